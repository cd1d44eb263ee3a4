"""Vision pipeline (MNIST / CIFAR-10): official file formats -> raw manifest -> silver -> Gold training set."""

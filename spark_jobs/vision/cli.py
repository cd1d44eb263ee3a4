"""`lakehouse generate images`: deterministic MNIST / CIFAR-10 files in the official formats or as PNGs."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add ``images`` and ``cifar-archive`` (the published tarballs) to ``lakehouse generate``."""
    from lakehouse.errors import friendly

    @generate_app.command("images")
    @friendly
    def images(
        dataset: Annotated[str, typer.Option("--dataset", help="mnist or cifar10")] = "mnist",
        n: Annotated[int, typer.Option("--n", help="number of images (train + test)")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 0,
        test_fraction: Annotated[float, typer.Option("--test-fraction", help="share written as test")] = 0.2,
        gzip_idx: Annotated[bool, typer.Option("--gzip/--no-gzip", help="gzip MNIST IDX files")] = True,
        image_format: Annotated[str, typer.Option("--format", help="official (IDX / CIFAR pickles) or png "
                                                  "(png/<split>/<class>/*.png image folders)")] = "official",
        dest: Annotated[str | None, typer.Option("--dest", help="directory/URI (default: landing zone)")] = None,
        digits: Annotated[bool, typer.Option("--sklearn-digits", help="write scikit-learn's real 8x8 digits "
                                             "(1797, upscaled to 28x28) as the MNIST delivery instead")] = False,
    ) -> None:
        """Write N images of DATASET into the landing zone as the official archives ship them."""
        from lakehouse.settings import get_settings
        from spark_jobs.vision import generator
        from spark_jobs.vision.io import landing_dir

        if digits:
            settings = get_settings()
            files = generator.digits_files(test_fraction=test_fraction, seed=seed)
            for uri in generator.write_files(settings, dest or landing_dir(settings, "mnist"), files):
                typer.echo(f"wrote  {uri}")
            return
        written = generator.generate_to_landing(get_settings(), dataset, n, seed=seed, test_fraction=test_fraction,
                                                gzip_idx=gzip_idx, dest=dest, image_format=image_format)
        if image_format == "png":
            typer.echo(f"wrote  {len(written)} PNG files under {dest or landing_dir(get_settings(), dataset)}/png")
            return
        for uri in written:
            typer.echo(f"wrote  {uri}")

    @generate_app.command("cifar-archive")
    @friendly
    def generate_cifar_archive(
        version: Annotated[str, typer.Option("--version", help="python (cifar-10-python.tar.gz, pickled batches) "
                                             "or binary (cifar-10-binary.tar.gz, .bin records)")] = "python",
        n: Annotated[int, typer.Option("--n", min=1, help="number of images (train + test)")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 0,
        test_fraction: Annotated[float, typer.Option("--test-fraction", help="share written as test_batch")] = 0.2,
        dest: Annotated[str | None, typer.Option("--dest", help="directory/URI (default: the cifar10 landing "
                                                 "folder, replacing what is there)")] = None,
    ) -> None:
        """Write N CIFAR-10 images as cifar-10-python.tar.gz or cifar-10-binary.tar.gz.

        The published layout: data_batch_1..5, test_batch, batches.meta and readme.html under
        cifar-10-batches-py/, or the .bin/.txt files under cifar-10-batches-bin/. The vision pipeline reads
        the tarball as it is: do not unpack it."""
        from lakehouse.settings import get_settings
        from spark_jobs.vision import generator
        from spark_jobs.vision.io import landing_dir

        settings = get_settings()
        files = generator.cifar_archive_files(n, seed=seed, test_fraction=test_fraction, version=version)
        for uri in generator.write_files(settings, dest or landing_dir(settings, "cifar10"), files):
            typer.echo(f"wrote  {uri}")

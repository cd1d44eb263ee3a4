"""Failures become one readable line."""

from lakehouse.errors import LakehouseError, explain


class Py4JJavaError(Exception):
    pass


def test_known_java_causes_are_translated() -> None:
    trace = ("An error occurred while calling o55.sql.\n: java.nio.file.AccessDeniedException: s3a://b/k: "
             "getFileStatus on s3a://b/k: com.amazonaws.services.s3.model.AmazonS3Exception: Forbidden "
             "(Service: Amazon S3; Status Code: 403; Error Code: 403 Forbidden)\n\tat org.apache.hadoop...")
    assert explain(Py4JJavaError(trace)).startswith("S3 rejected the credentials")
    assert "locked" in explain(Exception("org.sqlite.SQLiteException: [SQLITE_BUSY] database is locked"))


def test_unknown_errors_keep_their_first_line_without_frames() -> None:
    text = "py4j.protocol.Py4JJavaError: An error occurred while calling o1.x.\n\tat org.Foo.bar(Foo.java:1)"
    message = explain(RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found.\n" + text))
    assert message == "[TABLE_OR_VIEW_NOT_FOUND] The table `x` cannot be found."
    assert "\n" not in message


def test_lakehouse_errors_pass_through() -> None:
    assert explain(LakehouseError("bucket missing")) == "bucket missing"


def test_s3_credential_rejection_is_explained(monkeypatch) -> None:
    import pytest
    from botocore.exceptions import ClientError

    from lakehouse import storage
    from lakehouse.settings import LakehouseSettings

    class Rejecting:
        def head_bucket(self, Bucket: str) -> None:
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")

    monkeypatch.setattr(storage, "s3_client", lambda settings: Rejecting())
    with pytest.raises(LakehouseError, match="rejected the credentials for bucket 'lakehouse'"):
        storage.check_s3(LakehouseSettings(profile="s3"))

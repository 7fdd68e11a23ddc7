"""Shared setup for the client scripts: credentials and config that keep aws-cli and
boto3 on the test server and off the network (no metadata service, no real config)."""
import atexit
import os
import shutil
import sys
import tempfile

ACCESS = "BSTESTACCESSKEY00001"
SECRET = "test-secret-key-0123456789-abcdefghijkl"


def setup_env():
    home = tempfile.mkdtemp(prefix="bigstep-files-aws-")
    # The scripts write up to ~150 MiB of test files here: never leave them behind.
    atexit.register(shutil.rmtree, home, True)
    cfg = os.path.join(home, "config")
    with open(cfg, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": cfg,
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
            "HOME": home,
        }
    )
    # AWS_CA_BUNDLE (set on some machines) makes rclone refuse plain-HTTP endpoints.
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        os.environ.pop(k, None)
    return home


def client(endpoint, secret=SECRET, **kw):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}, **kw),
    )


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def error_code(fn):
    """Runs fn, returns the S3 error code it raised (or None)."""
    from botocore.exceptions import ClientError

    try:
        fn()
    except ClientError as e:
        return e.response.get("Error", {}).get("Code")
    return None


def rclone_env(home, endpoint):
    """rclone configured entirely from the environment: the remote `bs:` is
    the test server, with an empty config file so no real one is read."""
    os.environ.update({
        "RCLONE_CONFIG": os.path.join(home, "rclone.conf"),
        "RCLONE_CONFIG_BS_TYPE": "s3",
        "RCLONE_CONFIG_BS_PROVIDER": "Other",
        "RCLONE_CONFIG_BS_ACCESS_KEY_ID": ACCESS,
        "RCLONE_CONFIG_BS_SECRET_ACCESS_KEY": SECRET,
        "RCLONE_CONFIG_BS_ENDPOINT": endpoint,
        "RCLONE_CONFIG_BS_REGION": "us-east-1",
        "RCLONE_CONFIG_BS_FORCE_PATH_STYLE": "true",
    })
    open(os.environ["RCLONE_CONFIG"], "w").close()

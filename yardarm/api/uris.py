"""What a URI in a spec may look like, as rules the API server and pydantic both enforce.

Each rule is a :class:`~yardarm.api.common.StringRule`, so the CRD carries it as CEL with a
sentence a person reads (``kubectl apply`` never prints a regular expression), and the Python
types refuse the same values with the same sentence. Paths never contain ``..`` segments: a
``pvc://`` path is joined under the claim's mount point, and ``..`` would reach outside it.
"""

from __future__ import annotations

from typing import Annotated

from yardarm.api.common import StringRule, string_checks

#: The scikit-learn data sets ``builtin://NAME`` loads (shipped with the package, no download).
BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")

URI_MAX_LENGTH = 2048

_CLAIM = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"

NO_DOT_DOT = StringRule(
    r"(^|/)\.\.(/|$)",
    "must not contain '..' segments: a path stays inside its claim, bucket or directory",
    refuse=True,
)
PVC_CLAIM = StringRule(
    rf"^pvc://{_CLAIM}(/|$)",
    "a pvc:// URI starts with the name of a PersistentVolumeClaim, as in pvc://models/bundles "
    "(lowercase letters, digits, '-' and '.')",
    when="pvc://",
)
PVC_CLAIM_LENGTH = StringRule(
    r"^pvc://[^/]{1,253}(/|$)", "the claim name in a pvc:// URI is at most 253 characters", when="pvc://"
)
PVC_PATH = StringRule(
    r"^pvc://[^/]+/+[^/]", "a pvc:// URI names a path inside the claim, as in pvc://data/iris.csv", when="pvc://"
)
S3_BUCKET = StringRule(
    rf"^s3://{_BUCKET}(/|$)",
    "an s3:// URI starts with a bucket name, as in s3://models/bundles (3 to 63 lowercase letters, digits, '.', '-')",
    when="s3://",
)
S3_KEY = StringRule(
    r"^s3://[^/]+/+[^/]", "an s3:// URI names a key in the bucket, as in s3://data/iris.csv", when="s3://"
)
FILE_ABSOLUTE = StringRule(
    r"^file:///[^/]", "a file:// URI names an absolute path, as in file:///data/iris.csv", when="file://"
)
HTTPS_HOST = StringRule(r"^https://[^/\s]+/", "an https:// URI names a host and a path", when="https://")
BUILTIN_NAME = StringRule(
    "^builtin://(" + "|".join(BUILTIN_DATASETS) + ")$",
    "builtin:// data sets are " + ", ".join(BUILTIN_DATASETS[:-1]) + " and " + BUILTIN_DATASETS[-1],
    when="builtin://",
)

STORE_SCHEME = StringRule(
    r"^(pvc://|s3://|file://)", "must start with pvc://<claim>/, s3://<bucket>/ or file:/// (an absolute path)"
)
SOURCE_SCHEME = StringRule(
    r"^(builtin://|pvc://|s3://|file://|https://|/)",
    "must start with builtin://, pvc://<claim>/, s3://<bucket>/, https:// or file:/// (an absolute path)",
)

#: A store prefix (TrainingRun output): the claim or bucket alone is allowed.
StorePrefixURI = Annotated[
    str,
    *string_checks(
        STORE_SCHEME, NO_DOT_DOT, PVC_CLAIM, PVC_CLAIM_LENGTH, S3_BUCKET, FILE_ABSOLUTE, max_length=URI_MAX_LENGTH
    ),
]
#: One bundle directory in the store (ModelDeployment model): a path below the claim or bucket.
BundleURI = Annotated[
    str,
    *string_checks(
        STORE_SCHEME,
        NO_DOT_DOT,
        PVC_CLAIM,
        PVC_CLAIM_LENGTH,
        PVC_PATH,
        S3_BUCKET,
        S3_KEY,
        FILE_ABSOLUTE,
        max_length=URI_MAX_LENGTH,
    ),
]
#: Where a Dataset's data is.
SourceURI = Annotated[
    str,
    *string_checks(
        SOURCE_SCHEME,
        NO_DOT_DOT,
        BUILTIN_NAME,
        PVC_CLAIM,
        PVC_CLAIM_LENGTH,
        PVC_PATH,
        S3_BUCKET,
        S3_KEY,
        FILE_ABSOLUTE,
        HTTPS_HOST,
        max_length=URI_MAX_LENGTH,
    ),
]

#: A service to read from over HTTP (the Monitor's Prometheus).
HttpURL = Annotated[
    str,
    *string_checks(
        StringRule(
            r"^https?://[^/\s]+", "must be an http:// or https:// URL with a host, as in http://prometheus:9090"
        ),
        max_length=URI_MAX_LENGTH,
    ),
]

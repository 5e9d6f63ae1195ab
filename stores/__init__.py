"""teachkit stores: Parquet shards + DuckDB views, the contract between the stages."""

from .connect import VIEWS, connect
from .fingerprint import FingerprintError, canonical_json, file_checksum, fingerprint, tree_checksum
from .layout import IncompatibleStoreError, Manifest, Store, StoreError, check_name
from .schema import SCHEMA_VERSION, schema_for
from .writer import FeatureShards, RunWriter, ShardWriter

__all__ = [
    "VIEWS", "SCHEMA_VERSION", "FingerprintError", "IncompatibleStoreError", "Manifest",
    "FeatureShards", "RunWriter", "ShardWriter", "Store", "StoreError", "canonical_json", "check_name", "connect",
    "file_checksum", "fingerprint", "schema_for", "tree_checksum",
]

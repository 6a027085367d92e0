"""The site file: schema, loading and validation."""

from hotline12345.config.errors import ConfigError, ConfigIssue
from hotline12345.config.loader import (
    CONFIG_ENV,
    check_site,
    default_register_path,
    default_site_path,
    load_site,
    resolve_site_path,
)
from hotline12345.config.schema import Site

__all__ = [
    "CONFIG_ENV",
    "ConfigError",
    "ConfigIssue",
    "Site",
    "check_site",
    "default_register_path",
    "default_site_path",
    "load_site",
    "resolve_site_path",
]

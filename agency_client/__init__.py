"""The agency-side client: encode, upload, consent, deref and the responder gateway.

Public API (the CLI is ``agency_client.cli:main``):

* :func:`load_agency_config` ``(path, environ) -> AgencyConfig`` and :class:`AgencyConfig`.
* :func:`encode_export` ``(config, input_path, output_path, *, strict, workers, output_format)
  -> EncodeReport``: CSV export to CLK file, streamed, on all cores.
* CLK files: :class:`ClkFileHeader`, :class:`ClkFileWriter`, :class:`ClkhashJsonWriter`,
  :func:`read_clk_batches`, :func:`read_clk_file_header` (format: docs/clk-file-format.md).
* :class:`EncodingSchema` (``of(schema)``, ``kind``, ``fingerprint``, ``clk_bits``,
  ``clk_bytes``, ``identifiers``, ``layout``, ``encoder(secret, *, key_epoch) ->
  RecordEncoder``): the configured schema of either kind, record-level (plain or hardened)
  or with per-field ``segments``; :func:`builtin_encoding_schema` ``(name)`` for
  ``default``, ``plain`` and ``default-segmented``; :func:`load_encoding_schema_file`.
* :class:`RowMapper`: column mapping and normalisation of source rows.
* :func:`sample_path` ``(name) -> Path``: the bundled sample export and its agency.toml.
"""

from agency_client._clkfile import (
    ClkBatch,
    ClkFileHeader,
    ClkFileWriter,
    ClkhashJsonWriter,
    detect_file_kind,
    open_writer,
    read_clk_batches,
    read_clk_file_header,
)
from agency_client._config import AgencyConfig, FeatureSource, LinkageSecret, load_agency_config
from agency_client._encoding import (
    EncodingSchema,
    RecordEncoder,
    builtin_encoding_schema,
    load_encoding_schema_file,
)
from agency_client._mapping import RowMapper
from agency_client._pipeline import EncodeReport, encode_export
from agency_client._samples import sample_path

__all__ = [
    "AgencyConfig",
    "ClkBatch",
    "ClkFileHeader",
    "ClkFileWriter",
    "ClkhashJsonWriter",
    "EncodeReport",
    "EncodingSchema",
    "FeatureSource",
    "LinkageSecret",
    "RecordEncoder",
    "RowMapper",
    "builtin_encoding_schema",
    "detect_file_kind",
    "encode_export",
    "load_agency_config",
    "load_encoding_schema_file",
    "open_writer",
    "read_clk_batches",
    "read_clk_file_header",
    "sample_path",
]

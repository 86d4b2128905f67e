"""Bulk import of devices (`import_devices`): each row validated as `POST /devices` validates a body, then written
in batches, one transaction each, through COPY on PostgreSQL (multi-row INSERTs on SQLite).

A row may carry, beyond the body of `POST /devices`:
- the state an export holds: `status`, `slots`, `creation_timestamp`, `updated_timestamp`, taken when the device is
  created and ignored when it exists (its lifecycle moves only through its own endpoints);
- network adapters: `network_adapters` (bodies of `POST /devices/{id}/network-adapters`) and the shorthands `imei`,
  `dev_eui` and `dvn_uuid` (one adapter of that type).

The modules, by concern: `validation` (a row's verdict), `pipeline` (the validating processes and the import's run),
`ordered_writes` (committing batches in the order of the input, serially or concurrently), `batches` (the SQL of one
batch) and `summary` (what an import reports).
"""

from .batches import BatchWriter
from .pipeline import DEFAULT_BATCH_SIZE, DeviceImport
from .summary import Failure, ImportSummary, Mode
from .validation import DeviceRow, RowError, device_fields_fast, device_row

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchWriter",
    "DeviceImport",
    "DeviceRow",
    "Failure",
    "ImportSummary",
    "Mode",
    "RowError",
    "device_fields_fast",
    "device_row",
]

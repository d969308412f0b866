"""Where rollups and priced events are stored: one small interface, two adapters.

`Warehouse` is the interface; `ChdbWarehouse` runs ClickHouse in-process (the embedded default)
and `ClickHouseServerWarehouse` talks to a ClickHouse server through clickhouse-connect. Both run
the same SQL. `open_warehouse` picks one from `WarehouseSettings`.
"""

from storage.base import Row, Warehouse, WarehouseError
from storage.factory import WarehouseSettings, open_warehouse

__all__ = ["Row", "Warehouse", "WarehouseError", "WarehouseSettings", "open_warehouse"]

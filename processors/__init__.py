"""Stream processing: pricing events and writing them to the warehouse (Faust agents are wiring)."""

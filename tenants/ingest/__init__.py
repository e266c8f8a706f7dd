"""Reading what partners send: CSV files, hardware hashes, device rows, the supplier catalog."""

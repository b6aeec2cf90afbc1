"""The embedded dev stack (`make run`): moto server, tables, `chalice local`, and the schedule emulator."""

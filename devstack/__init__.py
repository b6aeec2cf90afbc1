"""The embedded dev stack (`make run`): moto server, tables, the API front (REST + websocket), the jobs."""

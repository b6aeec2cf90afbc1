"""The Chalice application: creates the app and registers the blueprints. Nothing else."""

from chalice import Chalice

from chalicelib.api import bootstrap, flows

app = Chalice(app_name="cirrus")

app.register_blueprint(bootstrap.bp)
app.register_blueprint(flows.bp)

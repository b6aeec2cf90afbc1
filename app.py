"""The Chalice application: creates the app and registers the blueprints. Nothing else."""

from chalice import Chalice

from chalicelib.api import (
    artifacts,
    auth,
    automations,
    blocks,
    bootstrap,
    concurrency_limits,
    deployments,
    event_feed,
    events,
    events_out,
    flow_run_inputs,
    flow_runs,
    flows,
    logs,
    task_runs,
    task_workers,
    ui,
    variables,
    work_pools,
    work_queues,
)
from chalicelib.api.fallbacks import declare_missing_methods
from chalicelib.jobs import automations as automation_jobs
from chalicelib.jobs import event_streams, maintenance, run_counts, scheduler

app = Chalice(app_name="cirrus")
app.experimental_feature_flags.update(["WEBSOCKETS"])  # /events/in (chalicelib/api/events.py)

for blueprint in (
    bootstrap.bp,
    auth.bp,
    flows.bp,
    deployments.bp,
    flow_runs.bp,
    flow_run_inputs.bp,
    task_runs.bp,
    task_workers.bp,
    logs.bp,
    concurrency_limits.bp,
    artifacts.bp,
    variables.bp,
    blocks.bp,
    work_pools.bp,
    work_queues.bp,
    ui.bp,
    events.bp,
    event_feed.bp,
    automations.bp,
    scheduler.bp,
    maintenance.bp,
    run_counts.bp,
    event_streams.bp,
    automation_jobs.bp,
):
    app.register_blueprint(blueprint)

# Last: every known path answers its other methods with 405 (on API Gateway too).
declare_missing_methods(app)

# The /events/in and /events/out websocket Lambdas: Chalice wraps websocket handlers only when the app registers them.
events_connect = app.on_ws_connect()(events.events_connect)
events_message = app.on_ws_message()(events.events_message)
events_disconnect = app.on_ws_disconnect()(events_out.events_disconnect)

"""Automations: the ``/automations`` routes and the evaluation of their triggers.

- ``_crud``: create, read, replace, enable/disable, delete, filter, count, related-to, owned-by;
- ``_evaluation``: the catalog cache, reactive evaluation of new events, proactive ticks, compound
  and sequence triggers;
- ``_actions``: performing a firing's actions once, with Prefect's ``prefect.automation.*`` events;
- ``_templates``: Jinja templates in actions (the only jinja2 user).
"""

from chalicelib.services.automations._actions import act, perform_pending, recover
from chalicelib.services.automations._crud import (
    count_automations,
    create_automation,
    delete_automation,
    delete_owned_by,
    filter_automations,
    read_automation,
    related_to,
    set_enabled,
    update_automation,
)
from chalicelib.services.automations._evaluation import (
    Report,
    bucket_of,
    catalog,
    derived_id,
    evaluate_events,
    evaluate_proactive,
)
from chalicelib.services.automations._templates import TemplateError, validate

__all__ = [
    "Report",
    "TemplateError",
    "act",
    "bucket_of",
    "catalog",
    "count_automations",
    "create_automation",
    "delete_automation",
    "delete_owned_by",
    "derived_id",
    "evaluate_events",
    "evaluate_proactive",
    "filter_automations",
    "perform_pending",
    "read_automation",
    "recover",
    "related_to",
    "set_enabled",
    "update_automation",
    "validate",
]

"""Transitional alias, to be deleted: split into ``gateway.citizen.challenges`` (single use of
login challenges) and ``gateway.citizen.disclosure`` (covert entries and their disclosure).

Only ``gateway/cli/disclose_cmds.py`` still imports this name; once it imports
``gateway.citizen.disclosure`` instead, remove this file.
"""

from gateway.citizen.disclosure import covert_entries, covert_entry, disclose

__all__ = ["covert_entries", "covert_entry", "disclose"]

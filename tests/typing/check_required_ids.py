"""Resource ids are ``int``, never ``None`` (DESIGN.md: "Resource ``id``s are required").

Kept apart from check_public_api.py because it depends on #18 making ids required: until that
is merged, test_typing.py expects this file to fail (xfail with that reason).
"""

from __future__ import annotations

from typing import assert_type

import centrepoint_async as cp


async def ids_are_ints(client: cp.CentrePointClient) -> None:
    """Every resource's id is an int, so it passes straight into the next call."""
    async for study in client.studies.list():
        assert_type(study.id, int)
        async for hook in client.webhooks.list(study.id):
            assert_type(hook.id, int)
            async for delivery in client.webhooks.history(study.id, hook.id):
                assert_type(delivery.id, int)
    async for event in client.webhook_events.list():
        assert_type(event.id, int)

"""Print the app's OpenAPI document (`make openapi` writes it to openapi/openapi.json)."""

from __future__ import annotations

import json

from service.api.app import create_app
from service.settings import Settings


def document() -> str:
    app = create_app(Settings(_env_file=None))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(document(), end="")

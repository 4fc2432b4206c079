"""Every `/v1` router, in the order they appear in the OpenAPI document."""
from service.api import me, people

ROUTERS = [me.router, people.router]

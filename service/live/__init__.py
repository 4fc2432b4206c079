"""The live sandbox: `oneonone serve --sandbox` (world.py) and its endpoint
`POST /sandbox/{change}` (routes.py). An entry point: it wires the replay
harness, the fakes, the demo and the server together."""

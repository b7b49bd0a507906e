"""The verifiers taskset id ``parley-verifiers``: verifiers imports a taskset by a top-level module name, so this
shim re-exports Parley's adapter (parley.adapters.verifiers), where everything lives."""

from parley.adapters.verifiers import ParleyEnv, ParleyTaskset

__all__ = ["ParleyTaskset", "ParleyEnv"]

"""Fixtures for cross-process tests: real Daphne workers on PostgreSQL and Redis.

`stack_factory(workers=2, env={...})` starts a stack (see stack.py) that is
closed at the end of the test; modules wanting one stack for all their tests
call `stack.start_stack` in a module-scoped fixture of their own.
"""
import pytest

from tests.integration import stack as stack_module


@pytest.fixture(scope="session", autouse=True)
def _drop_stack_template():
    yield
    stack_module.drop_template()


@pytest.fixture
def stack_factory():
    started = []

    def start(workers: int = 2, env: dict | None = None, name: str = "it"):
        started.append(stack_module.start_stack(workers, env, name=name))
        return started[-1]

    yield start
    for stack in started:
        stack.close()

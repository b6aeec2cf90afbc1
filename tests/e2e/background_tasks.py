"""A background task and its worker (run under .venv-e2e): ``python background_tasks.py`` serves
``add`` with ``task.serve()`` until it is stopped; ``background_driver.py`` imports ``add`` to
``.delay()`` it (one module, so both compute the same task key)."""

from prefect import task


@task
def add(x: int, y: int) -> int:
    return x + y


if __name__ == "__main__":
    add.serve()

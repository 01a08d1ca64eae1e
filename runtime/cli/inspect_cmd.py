import click
@click.command("inspect")
def command():
    """TODO"""


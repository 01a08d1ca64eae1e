import click
@click.command("export")
def command():
    """TODO"""


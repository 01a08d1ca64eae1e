import click
@click.command("verify")
def command():
    """TODO"""


import click
@click.command("stream")
def command():
    """TODO"""


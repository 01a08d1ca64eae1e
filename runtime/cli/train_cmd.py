import click
@click.command("train")
def command():
    """TODO"""


"""Flask commands: demo, create-user (init-db lives with the database code)."""
import click
from flask.cli import with_appcontext

from app.db import apply_schema, database, is_initialised


@click.command("demo")
@click.option("--customers", default=6000, show_default=True, help="How many customers to create.")
@click.option("--seed", default=20261129, show_default=True, help="Same seed, same county.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has data.")
@with_appcontext
def demo_command(customers, seed, if_empty):
    """Build the demo county (never over an existing one)."""
    from app.demo import build_demo
    from app.models import Branch

    db = database.obj
    with db.connection_context():
        if not is_initialised(db):
            apply_schema(db)
        if Branch.select().exists():
            if if_empty:
                click.echo("The database already holds data; the demo county was not built again.")
                print_logins(_existing_demo_logins())
                return
            raise click.ClickException(
                "The database already holds data. Use a new DATABASE_URL, or `flask init-db --force` first.")
        summary = build_demo(customers=customers, seed=seed)
    click.echo(f"Demo county: {summary['branches']} branches, {summary['territories']} territories, "
               f"{summary['customers']} customers, {summary['users']} users.")
    print_logins(summary["logins"])


def _existing_demo_logins():
    from app.demo import PASSWORD
    from app.models import User

    return [(u.role, u.username, PASSWORD) for u in
            User.select().where(User.active, User.username.in_(["mgr01", "lead1", "hangzhang", "admin"]))
            .order_by(User.id)]


def print_logins(logins):
    """One login per role is enough to try every part of the app."""
    click.echo("Sign in at http://127.0.0.1:5000 as:")
    shown = set()
    for role, username, password in logins:
        if role not in shown:
            shown.add(role)
            click.echo(f"  {role:<11} {username:<12} {password}")


@click.command("create-user")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["manager", "team_lead", "management", "admin"]), required=True)
@click.option("--branch", "branch_code", required=True, help="The code of the user's branch.")
@click.password_option()
@with_appcontext
def create_user_command(username, name, role, branch_code, password):
    """Create a user (the first administrator of a new deployment, for example)."""
    from app.models import Branch, User

    with database.obj.connection_context():
        branch = Branch.get_or_none(Branch.code == branch_code)
        if branch is None:
            raise click.ClickException(f"No branch with code {branch_code}.")
        if User.select().where(User.username == username).exists():
            raise click.ClickException(f"The username {username} is taken.")
        user = User(username=username, name=name, role=role, branch=branch)
        user.set_password(password)
        user.save()
    click.echo(f"Created {role} {username}.")


def init_app(app):
    app.cli.add_command(demo_command)
    app.cli.add_command(create_user_command)

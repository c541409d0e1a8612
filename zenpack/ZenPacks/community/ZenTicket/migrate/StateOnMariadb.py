"""Gives the zenticket service MariaDB's endpoint (1.4.0): with the state DB on the
MariaDB every Zenoss 5.x/6.x runs, the sweep reaches it at 127.0.0.1:3306 inside its
container, as zenactiond (whose hooks write the same DB) already does through its own
import, `{"Application": "zodb_.*", "Name": "mariadb", "Purpose": "import"}` (zenoss-service
services/Zenoss.core.full/Zenoss/Events/zenactiond/service.json). A first install has it
from service_definition/zenticket.json; a step is the only way an upgrade gets it
(installServices() runs on a first install only).
"""

import logging

from Products.ZenModel.migrate.Migrate import Version
from Products.ZenModel.ZenPack import ZenPackMigration

from ZenPacks.community.ZenTicket.migrate.AddZenticketService import (
    our_services, service_context)

log = logging.getLogger('zen.ZenTicket')


def mariadb_import(sm):
    """The import zenactiond's service declares, field for field (no port: the exporter's,
    3306)."""
    return sm.Endpoint(name='mariadb', purpose='import', application='zodb_.*')


def imports_mariadb(svc):
    return any(e.purpose == 'import' and e.name == 'mariadb' for e in svc.endpoints)


def give_mariadb(ctx, sm):
    """Adds the import to each of the pack's services that lacks it; whether any did."""
    changed = False
    for svc in our_services(ctx):
        if not imports_mariadb(svc):
            svc.endpoints.append(mariadb_import(sm))
            changed = True
    return changed


class StateOnMariadb(ZenPackMigration):

    version = Version(1, 4, 0)

    def migrate(self, pack):
        if pack.prevZenPackVersion is None:
            return  # a first install: the service definition has it
        ctx = service_context()
        if ctx is None:
            return
        import servicemigration as sm
        if give_mariadb(ctx, sm):
            ctx.commit()
            log.info('the zenticket service imports MariaDB (its state DB on a site of '
                     'several hosts)')


StateOnMariadb()

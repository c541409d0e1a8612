"""Adds the zenticket Control Center service on an upgrade.

ZenPack.installServices() runs only on a first install (previousVersion is None), so a
site that installed 1.0.0 (cron-only) would never get the service. Runs on 5.x/6.x
only (servicemigration exists there); a no-op on 4.2, when the upgrade runs with
--ignore-service-install (as Zenoss's own install path honours it), and when the pack's
own service is there (found by its path, never by name alone: another `zenticket`
elsewhere in the tenant is not ours).
"""

import logging

from Products.ZenModel.migrate.Migrate import Version
from Products.ZenModel.ZenPack import ZenPack, ZenPackMigration

log = logging.getLogger('zen.ZenTicket')

SERVICE = 'zenticket'
# Where the pack has put its service: at the root (1.1.0) and under Zenoss/Events, beside
# zenactiond (from 1.2.0), relative to the tenant.
PATHS = (SERVICE, 'Zenoss/Events/' + SERVICE)


def our_services(ctx):
    """The pack's own services in a servicemigration context, by path."""
    top = ctx.getTopService()
    want = set(top.name + '/' + p for p in PATHS)
    return [s for s in ctx.services if ctx.getServicePath(s) in want]


def service_context():
    """A servicemigration context, or None where there is none (4.2) or where the
    administrator asked for no service install."""
    if getattr(ZenPack, 'ignoreServiceInstall', False):
        log.info('--ignore-service-install: the %s service is left as it is', SERVICE)
        return None
    try:
        import servicemigration as sm
    except ImportError:
        return None  # Zenoss 4.2: the daemon runs from daemons/zenticket
    sm.require('1.0.0')  # the API level this code uses, as Zenoss's own migrations ask
    try:
        return sm.ServiceContext()
    except sm.ServiceMigrationError as e:
        # No tenant id and no input file (an install outside serviced's migration run):
        # skipped, as every Zenoss migrate step does (e.g. AddEndpointsToZenjobs).
        log.info("couldn't generate a service context (%s): the %s service is left as it is",
                 e, SERVICE)
        return None


class AddZenticketService(ZenPackMigration):

    version = Version(1, 1, 0)

    def migrate(self, pack):
        if pack.prevZenPackVersion is None:
            return  # a first install: installServices() adds it
        ctx = service_context()
        if ctx is None or our_services(ctx):
            return
        pack.installServices()
        log.info('added the %s service', SERVICE)


AddZenticketService()

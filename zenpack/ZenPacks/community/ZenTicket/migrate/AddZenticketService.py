"""Adds the zenticket Control Center service on an upgrade.

ZenPack.installServices() runs only on a first install (previousVersion is None), so a
site that installed 1.0.0 (cron-only) would never get the service. Runs on 5.x/6.x
only (servicemigration exists there); a no-op on 4.2 and when the service is there.
"""

import logging

from Products.ZenModel.migrate.Migrate import Version
from Products.ZenModel.ZenPack import ZenPackMigration

log = logging.getLogger('zen.ZenTicket')

SERVICE = 'zenticket'


class AddZenticketService(ZenPackMigration):

    version = Version(1, 1, 0)

    def migrate(self, pack):
        if pack.prevZenPackVersion is None:
            return  # a first install: installServices() adds it
        try:
            import servicemigration as sm
        except ImportError:
            return  # Zenoss 4.2: the daemon runs from daemons/zenticket
        ctx = sm.ServiceContext()
        if [s for s in ctx.services if s.name == SERVICE]:
            return
        pack.installServices()
        log.info('added the %s service', SERVICE)


AddZenticketService()

"""ZenPacks.community.ZenTicket: installs zenticket-hook into Zenoss.

What install() does beyond the loaders (which create the trigger and the command
notification from zep/actions.json and chmod bin/):
- links bin/zenticket-hook into $ZENHOME/bin (the loader does it only from Zenoss 5.2);
- writes $ZENHOME/etc/zenticket.conf from the example if there is none (an existing one,
  such as the zenticket daemon's, is kept as it is) and always refreshes the .example;
- points the notification's commands at this host's $ZENHOME when it is not /opt/zenoss;
- adds the sweep to the zenoss user's crontab, between marker lines;
- creates the event class /App/Zenticket, where the tool raises events about itself
  (breaker open, work given up, work owed too long); the trigger excludes it, so they
  never become tickets through the tool.

remove() deletes the trigger, the notification and the crontab lines, but not on an
upgrade (leaveObjects=True): an upgrade must keep the administrator's objects.

Runs under Zenoss's Python 2.7; compiles under Python 3 as well.
"""

import logging
import os
import subprocess

import Globals  # noqa: F401  (sets up Zope for the imports below)
from Products.ZenModel.ZenPack import ZenPack as ZenPackBase
from Products.ZenUtils.Utils import zenPath

log = logging.getLogger('zen.ZenTicket')

TRIGGER_UUID = 'b4314bc5-b882-4fdd-b8c4-f1cbbf9f27d1'
NOTIFICATION_ID = 'zenticket'
EVENT_CLASS = '/App/Zenticket'
BINARY = 'zenticket-hook'
DEFAULT_ZENHOME = '/opt/zenoss'
CRON_BEGIN = '# BEGIN ZenPacks.community.ZenTicket'
CRON_END = '# END ZenPacks.community.ZenTicket'


def cron_lines(zenhome):
    """The crontab block for the sweep, for this ZENHOME."""
    here = os.path.dirname(__file__)
    with open(os.path.join(here, 'etc', 'zenticket.cron')) as f:
        body = [l.rstrip('\n') for l in f if l.strip() and not l.startswith('#')]
    return [CRON_BEGIN] + [l.replace('ZENHOME', zenhome) for l in body] + [CRON_END]


def without_block(lines):
    """The crontab without our block."""
    out, inside = [], False
    for line in lines:
        if line == CRON_BEGIN:
            inside = True
        elif line == CRON_END:
            inside = False
        elif not inside:
            out.append(line)
    return out


def localize(command, zenhome):
    """A notification command pointed at this host's ZENHOME."""
    return command.replace(DEFAULT_ZENHOME + '/', zenhome.rstrip('/') + '/')


class ZenPack(ZenPackBase):

    def install(self, app):
        super(ZenPack, self).install(app)
        zenhome = zenPath()
        self.installBinFile(BINARY)
        self.installConfFile('zenticket.conf')
        self._localize_notification(app, zenhome)
        self._install_cron(zenhome)
        self._create_event_class(app)

    def _create_event_class(self, app):
        # add_event needs the class to exist; createOrganizer keeps an existing one.
        app.zport.dmd.Events.createOrganizer(EVENT_CLASS)
        log.info('event class %s ready for zenticket-hook\'s own events', EVENT_CLASS)

    def remove(self, app, leaveObjects=False):
        if not leaveObjects:
            self._remove_notification_and_trigger(app)
            self._remove_cron()
            self.removeBinFile(BINARY)
        super(ZenPack, self).remove(app, leaveObjects=leaveObjects)

    def _localize_notification(self, app, zenhome):
        if zenhome.rstrip('/') == DEFAULT_ZENHOME:
            return
        notification = app.zport.dmd.NotificationSubscriptions._getOb(NOTIFICATION_ID, None)
        if notification is None:
            log.warning('notification %s not found; commands not localized', NOTIFICATION_ID)
            return
        for attr in ('body_format', 'clear_body_format'):
            value = notification.content.get(attr, '')
            notification.content[attr] = localize(value, zenhome)
        notification._p_changed = True
        log.info('notification %s now runs %s/bin/%s', NOTIFICATION_ID, zenhome, BINARY)

    def _install_cron(self, zenhome):
        try:
            current = subprocess.Popen(['crontab', '-l'], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE).communicate()[0]
            lines = without_block(current.decode('utf-8', 'replace').splitlines())
            new = '\n'.join(lines + cron_lines(zenhome)) + '\n'
            p = subprocess.Popen(['crontab', '-'], stdin=subprocess.PIPE)
            p.communicate(new.encode('utf-8'))
            if p.returncode != 0:
                raise OSError('crontab exited with %s' % p.returncode)
            log.info('zenticket-hook sweep added to the crontab (every minute)')
        except OSError as e:
            log.warning('could not add the sweep to the crontab (%s); add %s by hand',
                        e, os.path.join(os.path.dirname(__file__), 'etc', 'zenticket.cron'))

    def _remove_cron(self):
        try:
            current = subprocess.Popen(['crontab', '-l'], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE).communicate()[0]
            lines = without_block(current.decode('utf-8', 'replace').splitlines())
            p = subprocess.Popen(['crontab', '-'], stdin=subprocess.PIPE)
            p.communicate(('\n'.join(lines) + '\n').encode('utf-8'))
        except OSError as e:
            log.warning('could not remove the sweep from the crontab: %s', e)

    def _remove_notification_and_trigger(self, app):
        dmd = app.zport.dmd
        subscriptions = dmd.NotificationSubscriptions
        if subscriptions._getOb(NOTIFICATION_ID, None) is not None:
            subscriptions._delObject(NOTIFICATION_ID)
            log.info('removed notification %s', NOTIFICATION_ID)
        try:
            from Products.Zuul import getFacade
            getFacade('triggers', dmd).removeTrigger(TRIGGER_UUID)
            log.info('removed trigger %s', TRIGGER_UUID)
        except Exception as e:  # ZEP down, or already gone: say so, do not fail removal
            log.warning('could not remove trigger %s: %s', TRIGGER_UUID, e)

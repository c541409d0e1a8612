"""ZenPacks.community.ZenTicket: installs zenticket-hook into Zenoss.

What install() does beyond the loaders (which create the trigger and the command
notification from zep/actions.json, chmod bin/, link daemons/zenticket into $ZENHOME/bin
and, on 5.x/6.x, add the zenticket service from service_definition/):
- writes $ZENHOME/etc/zenticket.conf from the example if there is none (an existing one,
  such as the zenticket daemon's, is kept as it is), before the loaders run, so that
  create_sample_config.sh finds it and writes nothing; always refreshes the .example;
- links bin/zenticket-hook into $ZENHOME/bin (the loader does it only from Zenoss 5.2);
- points the notification's commands at this host's $ZENHOME when it is not /opt/zenoss;
- on a first install, switches the pack's notification to the native `zenticket` action
  (actions.py: the whole event to the hook, no shell, no fetch) where Zenoss has its API;
  the command notification stays where it has not, and an upgrade keeps whichever the
  notification has (use_action() switches it, from zendmd);
- on Control Center (5.1+) writes the one config, /var/zenoss/zenticket/zenticket.conf,
  if there is none after the migrate steps ran (an upgrade from 1.1.0 carries the
  service's own config there first): zenactiond's container (where the notification's
  hooks run) and the zenticket service both mount the var-zenpacks volume at /var/zenoss,
  so the hooks and the sweep read one config and write one state DB and one log, all kept
  across restarts and upgrades; the notification's commands and the service's command
  name that config; on a first install gives zenactiond a zproxy import (the 1.3.0 step
  does it on an upgrade), so the hooks reach Zope at http://localhost:8080;
- keeps the administrator's notification settings across an upgrade (the pack loader
  resets them from actions.json): read before the loaders, written back after;
- on 4.2 starts the zenticket daemon (the sweep loop: `zenticket start`), which the
  Daemons page then shows; removes the crontab block of pack 1.0.0, since the daemon now
  sweeps (a crontab that cannot be read is left alone, with a warning); writes
  $ZENHOME/etc/zenticket.cron, the fallback for a host where the daemon cannot run, with
  this host's paths (two sweepers are safe, one waits for the other, but one is enough);
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
# The pack's own objects are found by the guid/uuid it ships in zep/actions.json, never by
# name: a site may already have a notification called `zenticket` (the loader then names
# the pack's `zenticket_1`), and that one is the administrator's.
NOTIFICATION_GUID = 'd37cecd3-d668-40ee-864b-04c6fd35c52c'
DAEMON = 'zenticket'
EVENT_CLASS = '/App/Zenticket'
BINARY = 'zenticket-hook'
DEFAULT_ZENHOME = '/opt/zenoss'
# On Control Center: one config and one state DB for every process that acts (the hooks in
# zenactiond's container, the zenticket service's sweep), on the volume both mount.
CC_HOME = '/var/zenoss/zenticket'
CC_TEMPLATE = 'zenticket-controlcenter.conf'
CONF_OPTION = '--config /opt/zenoss/etc/zenticket.conf'
CRON_BEGIN = '# BEGIN ZenPacks.community.ZenTicket'
CRON_END = '# END ZenPacks.community.ZenTicket'


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


def cron_text(template, zenhome):
    """The fallback crontab file with this host's paths for its ZENHOME/ placeholders,
    less the template's own notes (lines starting `#:`)."""
    home = zenhome.rstrip('/')
    lines = [line.replace('ZENHOME/', home + '/') for line in template.splitlines()
             if not line.startswith('#:')]
    return '\n'.join(['# Paths of this host (ZENHOME=%s).' % home] + lines) + '\n'


def on_control_center():
    return os.environ.get('CONTROLPLANE') == '1'


def cc_conf():
    return CC_HOME + '/zenticket.conf'


def cc_conf_text(template):
    """The Control Center config: the template, its paths on CC_HOME."""
    return template.replace('/var/zenoss/zenticket/', CC_HOME.rstrip('/') + '/')


def localize(command, zenhome, control_center=False):
    """A notification command pointed at this host's ZENHOME, and on Control Center at the
    config on the shared volume."""
    if control_center:
        command = command.replace(CONF_OPTION, '--config ' + cc_conf())
    return command.replace(DEFAULT_ZENHOME + '/', zenhome.rstrip('/') + '/')


# The state DB on MariaDB (several hosts): the database and user install() makes with the
# admin credentials of $ZENHOME/etc/global.conf; the hooks (zenactiond) and the sweep (the
# zenticket service) reach it at 127.0.0.1:3306 through their `mariadb` import.
STATE_DATABASE = 'zenoss_zenticket'
STATE_USER = 'zenticket'
STATE_URL = 'mysql://%s@127.0.0.1:3306/%s' % (STATE_USER, STATE_DATABASE)
# None: $ZENHOME/etc/global.conf and the pack's own bin/zenticket-hook.
GLOBAL_CONF = None
HOOK = None


def read_global_conf(path):
    """global.conf's `key value` lines (Zenoss's own format: a key, blanks, the value)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split(None, 1)
            out[parts[0]] = parts[1] if len(parts) > 1 else ''
    return out


def statedb_of(text):
    """The [GENERAL] statedb value of a config text, or None."""
    import re
    general = re.search(r'(?ms)^\[GENERAL\][^\n]*\n(.*?)(?=^\[|\Z)', text)
    if general is None:
        return None
    m = re.search(r'(?m)^statedb\s*[:=]\s*(.*?)\s*$', general.group(1))
    return m.group(1) if m else None


def with_mariadb(text, password_file):
    """The config text with its state DB on MariaDB: the statedb line replaced (or added
    after [GENERAL]) and statedbpasswordfile beside it; nothing else changes."""
    import re
    lines = 'statedb: %s\nstatedbpasswordfile: %s' % (STATE_URL, password_file)
    text = re.sub(r'(?m)^statedbpasswordfile\s*[:=].*\n?', '', text)
    new, n = re.subn(r'(?m)^statedb\s*[:=].*$', lambda m: lines, text, count=1)
    if n == 0:
        new = re.sub(r'(?m)^\[GENERAL\][^\n]*$', lambda m: m.group(0) + '\n' + lines, text,
                     count=1)
    return new


def guid_of(obj):
    """The global id Zenoss gave an object (the loader sets the one in actions.json)."""
    try:
        from Products.ZenUtils.guid.interfaces import IGlobalIdentifier
        return IGlobalIdentifier(obj).getGUID()
    except Exception:  # no Zope adapter here: the attribute the loader set
        return getattr(obj, 'guid', None)


def find_notification(dmd):
    """The pack's notification, by its guid; None when it is not there."""
    for notification in dmd.NotificationSubscriptions.objectValues():
        if guid_of(notification) == NOTIFICATION_GUID:
            return notification
    return None


def native_available():
    """Whether this Zenoss has what the `zenticket` action needs; registers the action in
    this process when its configure.zcml is not loaded yet (a first install), so that the
    notification can use it at once. zenactiond loads it at its next start."""
    try:
        from zope.component import queryUtility, provideUtility
        from Products.ZenModel.interfaces import IAction
        from ZenPacks.community.ZenTicket.actions import ZenticketAction
    except Exception as e:  # an old Zenoss: the command notification stays
        log.info('the zenticket action is not available here (%s): the command notification stays', e)
        return False
    if queryUtility(IAction, ZenticketAction.id) is None:
        provideUtility(ZenticketAction(), IAction, ZenticketAction.id)
    return True


def use_action(notification, kind, config=None):
    """Switches the pack's notification between the native action ('native') and the
    command ('command'). From zendmd:
        from ZenPacks.community.ZenTicket import find_notification, use_action
        use_action(find_notification(dmd), 'command'); commit()
    """
    if kind == 'native':
        notification.action = 'zenticket'
        notification.content['config'] = config if config is not None else (
            cc_conf() if on_control_center() else '')
        notification.content.setdefault('action_timeout', 60)
    elif kind == 'command':
        notification.action = 'command'
        notification.content.setdefault('action_timeout', 60)
    else:
        raise ValueError('use_action: kind is native or command, not %r' % (kind,))
    notification._p_changed = True


# What an administrator sets on the notification and an upgrade must keep: the pack loader
# (ZenPackLoader.ZPTriggerAction -> TriggersFacade.updateNotification) sets these from
# actions.json, and empties `recipients`, for a notification that exists. The commands
# (body_format, clear_body_format) are the pack's own and are updated.
KEPT_SETTINGS = ('enabled', 'send_clear', 'send_initial_occurrence', 'delay_seconds',
                 'repeat_seconds', 'recipients')
KEPT_CONTENT = ('config', 'action_timeout')


def notification_settings(notification):
    """The administrator's settings of the notification, to put back after the loader."""
    settings = dict((k, getattr(notification, k)) for k in KEPT_SETTINGS
                    if hasattr(notification, k))
    content = dict((k, notification.content[k]) for k in KEPT_CONTENT
                   if notification.content.get(k) is not None)
    return settings, content


def restore_settings(notification, saved, control_center=False):
    """Puts back what notification_settings() read; on Control Center the native action
    reads the config on the shared volume whatever happened to its content."""
    settings, content = saved
    for k, v in settings.items():
        setattr(notification, k, v)
    notification.content.update(content)
    if control_center and notification.action == 'zenticket' and not notification.content.get('config'):
        notification.content['config'] = cc_conf()
    notification._p_changed = True


def chown_to_zenoss(path):
    """Files the hooks read are the zenoss user's (install() may run as root)."""
    try:
        import pwd
        pw = pwd.getpwnam('zenoss')
        os.chown(path, pw.pw_uid, pw.pw_gid)
    except (KeyError, OSError, ImportError):
        pass


class ZenPack(ZenPackBase):

    def install(self, app):
        # Read before the loaders run: on an upgrade they reset the notification.
        notification = find_notification(app.zport.dmd)
        saved = notification_settings(notification) if notification is not None else None
        self.installConfFile('zenticket.conf')
        # The loaders, then the migrate steps (1.2.0's carries 1.1.0's service config onto
        # the shared volume), then the services.
        super(ZenPack, self).install(app)
        if on_control_center():
            # The template only where no config was there or carried.
            self._install_cc_conf()
            self._state_on_mariadb()
            if getattr(self, 'prevZenPackVersion', None) is None:
                self._zenactiond_reaches_zope()
        if saved is not None:
            self._restore_notification(app, saved)
        zenhome = zenPath()
        self.installBinFile(BINARY)
        self._localize_notification(app, zenhome)
        self._choose_action(app)
        self._remove_cron()
        self._write_cron_file(zenhome)
        self._create_event_class(app)
        self._start_daemon(zenhome)

    def _stop_daemon(self):
        script = os.path.join(zenPath(), 'bin', DAEMON)
        if os.environ.get('CONTROLPLANE') != '1' and os.path.exists(script):
            try:
                subprocess.call([script, 'stop'])
            except OSError as e:
                log.warning('could not stop the zenticket daemon: %s', e)

    def _start_daemon(self, zenhome):
        # Under Control Center the service runs it; on 4.2 start it now (`zenoss start`
        # starts it with the other daemons from then on).
        if os.environ.get('CONTROLPLANE') == '1':
            return
        script = os.path.join(zenhome, 'bin', DAEMON)
        if not os.path.exists(script):
            log.warning('%s not found: start the sweep loop by hand (%s run)', script, DAEMON)
            return
        try:
            subprocess.call([script, 'restart'])
            log.info('zenticket daemon started; Settings > Daemons shows it')
        except OSError as e:
            log.warning('could not start the zenticket daemon (%s): run %s start', e, script)

    def _create_event_class(self, app):
        # add_event needs the class to exist; createOrganizer keeps an existing one.
        app.zport.dmd.Events.createOrganizer(EVENT_CLASS)
        log.info('event class %s ready for zenticket-hook\'s own events', EVENT_CLASS)

    def remove(self, app, leaveObjects=False):
        if not leaveObjects:
            self._stop_daemon()
            self._remove_notification_and_trigger(app)
            self._remove_cron()
            self.removeBinFile(BINARY)
        super(ZenPack, self).remove(app, leaveObjects=leaveObjects)

    def _install_cc_conf(self):
        """On Control Center, the one config (and beside it the state DB and the log) on the
        var-zenpacks volume, which the Zope container running this install, zenactiond's
        and the zenticket service's all mount at /var/zenoss. An existing one is kept."""
        target = cc_conf()
        if not os.path.isdir(CC_HOME):
            os.makedirs(CC_HOME, 0o750)
        if os.path.exists(target):
            log.info('keeping %s', target)
            return
        with open(os.path.join(os.path.dirname(__file__), 'etc', CC_TEMPLATE)) as f:
            text = cc_conf_text(f.read())
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        log.info('wrote %s: the config of the hooks in zenactiond and of the zenticket '
                 'service, one state DB beside it', target)

    def _state_on_mariadb(self):
        """On Control Center, the state DB on the MariaDB every 5.x/6.x runs: it works on
        every layout (on delegates var-zenpacks is NFS, where SQLite is refused) and
        serviced backs it up. Makes the database and its user (a random password, in an
        owner-only file beside the config) with global.conf's admin credentials, carries
        an existing SQLite state DB over (its counts, tickets, owed work and installation
        id), then points the config at it. A config already on MariaDB is kept; where the
        database cannot be made the state DB stays SQLite, and the log says why."""
        target = cc_conf()
        with open(target) as f:
            text = f.read()
        current = statedb_of(text) or ''
        if current.startswith('mysql://') or current.startswith('mariadb://'):
            log.info('the state DB is on MariaDB already (%s)', current)
            return
        password_file = os.path.join(CC_HOME, 'statedb.password')
        try:
            self._make_state_database(password_file)
        except Exception as e:
            log.warning('the state DB stays SQLite (%s): the MariaDB database could not be '
                        'made: %s', current or 'the default', e)
            return
        new_text = with_mariadb(text, password_file)
        old_db = current if current.startswith('/') else None
        if old_db and os.path.exists(old_db):
            # Carried into the new database before the config names it, then again once
            # it does: a hook that read the old config meanwhile is carried too.
            staged = target + '.mariadb'
            with open(staged, 'w') as f:
                f.write(new_text)
            os.chmod(staged, 0o640)
            try:
                self._carry(staged, old_db)
            except Exception as e:
                os.remove(staged)
                log.warning('the state DB stays SQLite (%s): carrying it to MariaDB failed: '
                            '%s', old_db, e)
                return
            os.rename(staged, target)
            self._carry(target, old_db)
        else:
            with open(target + '.mariadb', 'w') as f:
                f.write(new_text)
            os.chmod(target + '.mariadb', 0o640)
            os.rename(target + '.mariadb', target)
        log.info('the state DB is on MariaDB (%s) for every host; the password is in %s',
                 STATE_URL, password_file)

    def _make_state_database(self, password_file):
        """The database and its user, with global.conf's admin credentials and the `mysql`
        client (no shell; the admin password in a file of the client's own options, the
        user's password on standard input: neither on a command line)."""
        import binascii
        import tempfile
        conf = read_global_conf(GLOBAL_CONF or zenPath('etc', 'global.conf'))
        host = conf.get('zodb-host', '127.0.0.1')
        port = conf.get('zodb-port', '3306')
        if os.path.exists(password_file):
            with open(password_file) as f:
                password = f.readline().strip()
        else:
            password = binascii.hexlify(os.urandom(18)).decode('ascii')
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(password + '\n')
            chown_to_zenoss(password_file)
        opts = tempfile.NamedTemporaryFile('w', suffix='.cnf', delete=False)
        try:
            os.chmod(opts.name, 0o600)
            opts.write('[client]\nuser=%s\npassword=%s\n' % (
                conf.get('zodb-admin-user', 'root'), conf.get('zodb-admin-password', '')))
            opts.close()
            sql = ''.join(
                "GRANT ALL ON `%s`.* TO '%s'@'%s' IDENTIFIED BY '%s';\n" % (
                    STATE_DATABASE, STATE_USER, h, password)
                for h in ('%', 'localhost'))
            sql = 'CREATE DATABASE IF NOT EXISTS `%s`;\n%s' % (STATE_DATABASE, sql)
            p = subprocess.Popen(['mysql', '--defaults-extra-file=' + opts.name, '-h', host,
                                  '-P', str(port), '--batch'],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            out, err = p.communicate(sql.encode('utf-8'))
            if p.returncode != 0:
                raise RuntimeError('mysql at %s:%s: %s' % (
                    host, port, err.decode('utf-8', 'replace').strip()))
        finally:
            os.remove(opts.name)

    def _carry(self, config, old_db):
        hook = HOOK or os.path.join(os.path.dirname(__file__), 'bin', BINARY)
        p = subprocess.Popen([hook, '--config', config, 'carry-state', old_db],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(err.decode('utf-8', 'replace').strip())
        log.info('%s', out.decode('utf-8', 'replace').strip())

    def _zenactiond_reaches_zope(self):
        """On a first install (migrate steps run only on upgrades), zenactiond imports
        zproxy as the 1.3.0 step gives it on an upgrade: the hooks reach Zope at
        http://localhost:8080."""
        from ZenPacks.community.ZenTicket.migrate.AddZenticketService import service_context
        from ZenPacks.community.ZenTicket.migrate.ZenticketOnSharedVolume import (
            zenactiond_reaches_zope)
        ctx = service_context()
        if ctx is None:
            return
        import servicemigration as sm
        if zenactiond_reaches_zope(ctx, sm):
            ctx.commit()
            log.info('zenactiond imports zproxy: hooks reach Zope at http://localhost:8080 '
                     '(restart zenactiond)')

    def _restore_notification(self, app, saved):
        """The administrator's notification settings, as they were before the loader ran;
        ZEP's subscriptions carry delay, repeat and initial occurrence, so they are told too."""
        notification = find_notification(app.zport.dmd)
        if notification is None:
            return
        restore_settings(notification, saved, on_control_center())
        try:
            from Products.Zuul import getFacade
            getFacade('triggers', app.zport.dmd).updateNotificationSubscriptions(notification)
        except Exception as e:  # ZEP down: the settings are kept, ZEP learns them at the next save
            log.warning('could not update the notification\'s subscriptions in ZEP: %s', e)
        log.info('kept the settings of notification %s across the upgrade', notification.id)

    def _choose_action(self, app):
        """A first install switches the pack's notification to the native `zenticket`
        action where Zenoss has its API (IAction, ProcessQueue, the event wrapper: 4.2 on);
        an upgrade keeps whichever action the notification has: the administrator's
        choice (Zenoss's loader never changes a notification's action either)."""
        if getattr(self, 'prevZenPackVersion', None) is not None:
            return
        notification = find_notification(app.zport.dmd)
        if notification is None or not native_available():
            return
        use_action(notification, 'native')
        log.info('notification %s uses the zenticket action (the whole event, no shell); '
                 'restart zenactiond so that it loads it', notification.id)

    def _localize_notification(self, app, zenhome):
        control_center = on_control_center()
        if zenhome.rstrip('/') == DEFAULT_ZENHOME and not control_center:
            return
        notification = find_notification(app.zport.dmd)
        if notification is None:
            log.warning('notification %s (guid %s) not found; commands not localized', NOTIFICATION_ID, NOTIFICATION_GUID)
            return
        for attr in ('body_format', 'clear_body_format'):
            value = notification.content.get(attr, '')
            notification.content[attr] = localize(value, zenhome, control_center)
        notification._p_changed = True
        log.info('notification %s now runs %s/bin/%s', notification.id, zenhome, BINARY)

    def _remove_cron(self):
        try:
            listing = subprocess.Popen(['crontab', '-l'], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            current, err = listing.communicate()
            err = err.decode('utf-8', 'replace').strip()
            if listing.returncode != 0:
                # "no crontab for zenoss": nothing to remove. Anything else (a denied
                # crontab, a cron daemon's error): what was read is not the crontab, and
                # writing it back would replace the administrator's with it.
                if 'no crontab' not in err.lower():
                    log.warning('could not read the crontab (%s); left as it is: remove the '
                                'lines between %r and %r by hand if they are there',
                                err or 'exit %d' % listing.returncode, CRON_BEGIN, CRON_END)
                return
            old = current.decode('utf-8', 'replace').splitlines()
            lines = without_block(old)
            if lines == old:
                return
            p = subprocess.Popen(['crontab', '-'], stdin=subprocess.PIPE)
            p.communicate(('\n'.join(lines) + '\n').encode('utf-8'))
            log.info('removed the sweep of pack 1.0.0 from the crontab (the daemon sweeps)')
        except OSError as e:
            log.warning('could not remove the sweep from the crontab: %s', e)

    def _write_cron_file(self, zenhome):
        """$ZENHOME/etc/zenticket.cron: the fallback crontab line with this host's paths,
        ready to copy where the daemon cannot run."""
        template = os.path.join(os.path.dirname(__file__), 'etc', 'zenticket.cron')
        target = os.path.join(zenhome, 'etc', 'zenticket.cron')
        try:
            with open(template) as f:
                text = cron_text(f.read(), zenhome)
            with open(target, 'w') as f:
                f.write(text)
        except (IOError, OSError) as e:
            log.warning('could not write %s: %s', target, e)

    def _remove_notification_and_trigger(self, app):
        dmd = app.zport.dmd
        subscriptions = dmd.NotificationSubscriptions
        notification = find_notification(dmd)
        if notification is not None:
            subscriptions._delObject(notification.id)
            log.info('removed notification %s', notification.id)
        try:
            from Products.Zuul import getFacade
            getFacade('triggers', dmd).removeTrigger(TRIGGER_UUID)
            log.info('removed trigger %s', TRIGGER_UUID)
        except Exception as e:  # ZEP down, or already gone: say so, do not fail removal
            log.warning('could not remove trigger %s: %s', TRIGGER_UUID, e)

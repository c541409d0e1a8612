"""The `zenticket` action's form fields, stored in the notification's content."""

from zope.interface import implements

from Products.Zuul.infos.actions import ActionContentInfo, ActionFieldProperty

from ZenPacks.community.ZenTicket.interfaces import IZenticketActionContentInfo


class ZenticketActionContentInfo(ActionContentInfo):
    implements(IZenticketActionContentInfo)

    config = ActionFieldProperty(IZenticketActionContentInfo, 'config')
    action_timeout = ActionFieldProperty(IZenticketActionContentInfo, 'action_timeout')

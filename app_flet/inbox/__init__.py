"""chatdock's agent inbox (`chatdock-inbox`): Flet controls over an AsyncAgentClient.

    from app_flet.inbox.shell import InboxScreen
    page.add(InboxScreen(AsyncAgentClient("https://chat.example.com")))

`InboxScreen` is the log-in form, then `InboxShell`: the conversation list
(`ticket_list.TicketList`), the open conversation (`conversation.ConversationView`), the
contact panel and, for owners, the Branding / Keys / Team / Availability pages. No HTTP
here: every call goes through the injected client.
"""

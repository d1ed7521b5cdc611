/*
 * Who is here, as the chat keeps it for the page: the Roster from each
 * welcome, arrivals, departures and renames told as notices, typing, and
 * a big room's roster in pages with its search (roster-pager.js). In a
 * big room (PROTOCOL.md 4.5.2) arrivals and departures come counted, with
 * a sample of names: they are told in one line a batch ("12 people
 * joined, 3 left"), and the sample updates the partial list; below that
 * size every arrival is told by name. Someone coming back after our own
 * reconnect is no new arrival (returning.js).
 *
 * Owns: the Roster, the roster pager, and who is coming back.
 * Must not touch: the DOM, the network or the messages; it draws through
 * the `view` it is given, hears `presence` and `typing` from `client` and
 * asks for roster pages through it, and reads the chat's state only
 * through the client.
 */

import { countedPresenceText, participants, rosterNote } from './format.js';
import { Roster } from './roster.js';
import { Returning } from './returning.js';
import { nameIn, sentence } from './sentence.js';
import { createRosterPager } from './roster-pager.js';

/**
 * The presence side of the chat. Arguments: `client` (a ParleyClient),
 * `view`, `now()`, `io` (the pager's timers), and `renamedSelf(nick)`,
 * the chat's part when our own rename went through.
 */
export function createPresence({ client, view, now, io, renamedSelf }) {
  const roster = new Roster();
  const returning = new Returning();
  const pager = createRosterPager({
    ask: (query) => client.roster(query),
    canAsk: () => client.joined && !client.awaitingWelcome,
    addPage: (members, count) => roster.addPage(members, count),
    replaceList: (members, count) => roster.replacePage(members, count),
    listed: () => roster.people().length,
    maxLimit: () => (client.limits && client.limits.max_roster_limit) || 100,
    changed: () => drawRoster(),
    atEnd: () => view.rosterNearEnd(),
    shown: () => view.rosterShown(),
    io,
  });

  /** The roster: the search's results while one is shown, else the list with the true count. */
  function drawRoster() {
    const results = pager.results();
    const people = results ? results.members : roster.people();
    const note = rosterNote({
      complete: roster.complete,
      shown: people.length,
      count: roster.count,
      prefix: results ? results.prefix : '',
      more: results ? results.next !== null : pager.more,
    });
    view.showRoster(people, roster.count, client.nick, { note, partial: !roster.complete });
  }

  function drawTyping() {
    view.showTyping(roster.typists(client.nick));
  }

  function onPresence(p) {
    switch (p.kind) {
      case 'joined':
        roster.add(p.nick, p.count);
        drawRoster();
        // Someone reconnecting after our own reconnect is no new arrival.
        if (!returning.isReturn(p.nick, now())) view.notice(sentence`${nameIn(p.nick)} joined — ${participants(p.count)}`);
        break;
      case 'left':
        roster.remove(p.nick, p.count);
        pager.departed(p.nick);
        drawRoster();
        drawTyping();
        view.notice(sentence`${nameIn(p.nick)} left — ${participants(p.count)}`);
        break;
      case 'presence': {
        if (p.arrived !== undefined) {
          onCounted(p);
          break;
        }
        const back = p.changes.filter((c) => c.present && returning.isReturn(c.nick, now())).length;
        const { came: all, went } = roster.applyPresence(p.changes, p.count, client.nick);
        const came = all - back;
        drawRoster();
        drawTyping();
        const parts = [];
        if (came > 0) parts.push(`${came} joined`);
        if (went > 0) parts.push(`${went} left`);
        if (parts.length > 0) view.notice(`${parts.join(', ')} — ${participants(p.count)}`);
        break;
      }
      case 'renamed':
        roster.rename(p.old, p.new);
        if (p.own) {
          renamedSelf(p.new);
          view.notice(sentence`You are now known as ${nameIn(p.new)}.`);
        } else {
          view.notice(sentence`${nameIn(p.old)} is now known as ${nameIn(p.new)}.`);
        }
        drawRoster();
        drawTyping();
        break;
      default:
        break;
    }
  }

  /**
   * A big room's batch: counted, with a sample of names. The sample
   * updates the list, which is partial from now on (a room that grew big
   * while we listed it whole is then listed in pages), and the batch is
   * one line.
   */
  function onCounted(p) {
    if (roster.complete) {
      roster.reset(roster.people(), p.count, false);
      pager.reset({ complete: false, next: '' });
    }
    roster.applyPresence(p.changes, p.count, client.nick);
    const named = p.changes.filter((change) => !change.present);
    for (const change of named) pager.departed(change.nick);
    // Some who left were not named: the list may still show them.
    if (p.departed > named.length) pager.stale();
    drawRoster();
    drawTyping();
    const text = countedPresenceText(p);
    if (text !== '') view.notice(text);
  }

  function onTyping(t) {
    if (t.own || !roster.setTyping(t.nick, t.on)) return;
    drawTyping();
    drawRoster();
  }

  client.on('presence', onPresence);
  client.on('typing', onTyping);

  return {
    /** `nick` said something, so stopped typing. */
    spoke(nick) {
      if (roster.endTyping(nick)) {
        drawTyping();
        drawRoster();
      }
    },

    /** A welcome's roster (not yet drawn); `w.freshRoom` false on a rejoin. */
    welcomed(w) {
      roster.reset(w.roster, w.count, w.rosterComplete !== false);
      returning.welcomed({
        rejoin: !w.freshRoom, present: roster.people().map((p) => p.nick), now: now(),
      });
    },

    /** Draws the welcomed roster, no longer stale. */
    show() {
      view.markRosterStale(false);
      drawRoster();
      drawTyping();
    },

    /** Once the roster is on screen: a partial one asks for what fills it. */
    listed(w) {
      pager.reset({ complete: roster.complete, next: w.roster_next });
    },

    /** The link went down: nobody types, and the roster may be out of date. */
    linkLost() {
      pager.linkLost();
      roster.stopAllTyping();
      drawTyping();
      view.markRosterStale(true);
    },

    /** We were in the room when the link went: the others there may come back. */
    away() {
      returning.linkLost(roster.people().map((p) => p.nick).filter((nick) => nick !== client.nick));
    },

    /** The roster was scrolled to its end: a partial one loads more. */
    nearEnd() {
      pager.nearEnd();
    },

    /** The roster was opened. */
    opened() {
      pager.opened();
    },

    /** The search box holds `text`: a partial roster is searched by name prefix. */
    search(text) {
      pager.search(text);
    },
  };
}

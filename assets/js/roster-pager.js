/*
 * The roster of a room too big to list at once (protocol minor 2): when
 * the welcome's roster is partial, ask the server for the next page in
 * name order as the roster is scrolled to its end, and search it by name
 * prefix as the user types in the search box (debounced; the results
 * replace the list, and clearing the search brings the paged list back).
 * One request at a time, browsing or searching: a search typed while one
 * is out goes when it is answered, and an answer to a search the user has
 * since changed is dropped. A request refused with `rate_limited` waits
 * the time the server named.
 *
 * A big room's presence batches name only a sample (PROTOCOL.md 4.5.2):
 * when more left than were named (`stale()`), what is listed may hold
 * someone gone, so the list is asked for again from its start, as many as
 * are listed (at most the server's page limit), and replaces what was
 * listed; a search shown is asked again. One refresh at a time, however
 * many batches come, and only while the roster is on screen (a folded
 * panel refreshes when it opens).
 *
 * Owns: whether the room is listed in pages, the cursor of the next page
 * (null once the end was reached), the search typed and its results
 * ({prefix, members, next}), the request in flight, whether a refresh is
 * due, the debounce timer and the hold the server asked for.
 * Must not touch: the DOM (the chat draws what `changed()` tells it to,
 * from results()), the network (it asks through `ask`, the client
 * library's roster()), or the Roster's state beyond adding the pages it
 * gets (`addPage`).
 */

import { BROWSER_IO } from './clock.js';

/** Members asked for at once (the server allows up to welcome.limits.max_roster_limit). */
export const ROSTER_PAGE_SIZE = 30;

/** How long typing must pause before a search goes. */
export const SEARCH_DEBOUNCE_MS = 250;

/**
 * A pager. Arguments:
 *   ask({after, prefix, limit}) -> Promise<{members, next, count}>
 *             (ParleyClient.roster)
 *   canAsk()  whether the server has us in a room with no join outstanding
 *   addPage(members, count)  a page of the paged list, for the Roster
 *   replaceList(members, count)  the paged list asked again from its start
 *   listed()  how many people the paged list holds
 *   maxLimit()  the most one request may ask for (welcome.limits.max_roster_limit)
 *   changed() something to draw: a page, results, or the search cleared
 *   atEnd()   whether the roster's end is in view (more is needed)
 *   shown()   whether the roster is on screen
 *   io        {setTimeout, clearTimeout, now}
 */
export function createRosterPager({
  ask, canAsk, addPage, replaceList = () => {}, listed = () => 0, maxLimit = () => 100,
  changed, atEnd, shown = () => true, io = {},
}) {
  const clock = { ...BROWSER_IO, ...io };
  /** The room's roster is listed in pages (the welcome's was partial). */
  let paged = false;
  /** The `after` of the next page of the paged list; null at its end. */
  let next = null;
  /** The search typed (trimmed); '' for none. */
  let query = '';
  /** The search's results: {prefix, members, next}; null while there are none to show. */
  let results = null;
  /** The search typed is waiting for the request in flight to be answered. */
  let searchDue = false;
  /** The request in flight: {n, prefix}, or null. */
  let inFlight = null;
  /** Someone left unnamed: what is listed is asked for again. */
  let refreshDue = false;
  let requests = 0;
  let debounce = 0;
  /** No request before this time (the server asked us to slow down). */
  let holdUntil = 0;
  let holdTimer = 0;

  function limit() {
    return ROSTER_PAGE_SIZE;
  }

  function mayAsk() {
    return paged && inFlight === null && canAsk() && clock.now() >= holdUntil;
  }

  /** Sends `query` ({after, prefix}); `got(page)` takes its answer. */
  function send(asked, got) {
    requests += 1;
    const n = requests;
    inFlight = { n, prefix: asked.prefix || '' };
    ask({ limit: limit(), ...asked }).then(
      (page) => {
        if (inFlight === null || inFlight.n !== n) return;
        inFlight = null;
        got(page);
        afterAnswer();
      },
      (error) => {
        if (inFlight === null || inFlight.n !== n) return;
        inFlight = null;
        refused(error);
      },
    );
  }

  /** The next page of the paged list, when it is wanted and there is one. */
  function browse() {
    if (query !== '' || next === null || !mayAsk()) return;
    send({ after: next }, (page) => {
      addPage(page.members, page.count);
      next = page.next;
      changed();
    });
  }

  /** The search typed, from its start. */
  function search() {
    if (query === '') return;
    if (!mayAsk()) {
      searchDue = true;
      return;
    }
    searchDue = false;
    const prefix = query;
    send({ prefix }, (page) => {
      // The user typed on meanwhile: this answer is for a search gone.
      if (prefix !== query) return;
      results = { prefix, members: page.members, next: page.next };
      addPage([], page.count);
      changed();
    });
  }

  /** More results of the search shown. */
  function moreResults() {
    if (results === null || results.next === null || !mayAsk()) return;
    const shown = results;
    send({ prefix: shown.prefix, after: shown.next }, (page) => {
      if (results !== shown) return;
      const listed = new Set(shown.members.map((m) => m.nick));
      results = {
        prefix: shown.prefix,
        members: shown.members.concat(page.members.filter((m) => !listed.has(m.nick))),
        next: page.next,
      };
      addPage([], page.count);
      changed();
    });
  }

  /** What is listed, asked for again from its start (it may hold someone gone). */
  function refresh() {
    if (!refreshDue || !mayAsk() || !shown()) return false;
    refreshDue = false;
    if (query !== '') {
      search();
      return true;
    }
    const want = Math.min(maxLimit(), Math.max(ROSTER_PAGE_SIZE, listed()));
    send({ after: '', limit: want }, (page) => {
      replaceList(page.members, page.count);
      next = page.next;
      changed();
    });
    return true;
  }

  /** Whatever waits goes: a search typed meanwhile, a refresh, or more of what is shown. */
  function afterAnswer() {
    if (searchDue) search();
    else if (!refresh() && atEnd()) more();
  }

  function more() {
    if (query === '') browse();
    else moreResults();
  }

  /** The request failed with `e` ({code, retry_ms}). */
  function refused(e) {
    const retry = e.retry_ms !== undefined ? e.retry_ms : e.frame && e.frame.retry_ms;
    if (e.code === 'rate_limited' || e.code === 'degraded') {
      const wait = Number.isFinite(retry) ? retry : 1000;
      holdUntil = clock.now() + wait;
      clock.clearTimeout(holdTimer);
      holdTimer = clock.setTimeout(() => {
        if (searchDue || (query !== '' && results === null)) search();
        else if (!refresh() && atEnd()) more();
      }, wait);
      return;
    }
    // not_joined or link_lost: the next welcome starts again. Anything
    // else would repeat: stop paging in this room.
    if (e.code !== 'not_joined' && e.code !== 'link_lost') {
      next = null;
      if (results !== null) results = { ...results, next: null };
    }
  }

  return {
    /**
     * A welcome: `complete` false when its roster is a page (or none),
     * `next` its roster_next. A search typed stays and is asked again.
     */
    reset({ complete, next: cursor }) {
      paged = !complete;
      next = paged && typeof cursor === 'string' ? cursor : null;
      inFlight = null;
      results = null;
      searchDue = false;
      refreshDue = false;
      holdUntil = 0;
      clock.clearTimeout(holdTimer);
      if (!paged) return;
      if (query !== '') search();
      else if (atEnd()) browse();
    },

    /** The roster was scrolled to its end (or does not fill its box), or opened. */
    nearEnd() {
      if (paged && !refresh()) more();
    },

    /** The roster came on screen: a refresh due goes, else what fills it. */
    opened() {
      if (paged && !refresh() && atEnd()) more();
    },

    /**
     * More people left than the live frames named (a big room's sample):
     * what is listed is asked for again, now or once it can be.
     */
    stale() {
      if (!paged) return;
      refreshDue = true;
      refresh();
    },

    /** The search box holds `text`: searched once typing pauses; '' brings the paged list back. */
    search(text) {
      const wanted = String(text || '').trim();
      if (wanted === query) return;
      query = wanted;
      clock.clearTimeout(debounce);
      if (query === '') {
        searchDue = false;
        if (results !== null) {
          results = null;
          changed();
        }
        return;
      }
      debounce = clock.setTimeout(search, SEARCH_DEBOUNCE_MS);
    },

    /** Someone left: they go from the results shown. */
    departed(nick) {
      if (results === null) return;
      results = { ...results, members: results.members.filter((m) => m.nick !== nick) };
    },

    /** The link closed: an answer to what is in flight will not come. */
    linkLost() {
      inFlight = null;
    },

    /** Whether the room is listed in pages. */
    get paged() { return paged; },
    /** Whether the paged list has more to come. */
    get more() { return next !== null; },
    /** The search's results ({prefix, members, next}), or null when the paged list shows. */
    results: () => (paged && query !== '' ? results : null),
    /** The search typed (trimmed). */
    get query() { return query; },
    isLoading: () => inFlight !== null,
  };
}

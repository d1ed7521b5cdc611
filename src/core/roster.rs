//! A room's members, indexed twice so that neither a join nor a page of
//! the roster costs anything in the room's size: by join order (the
//! roster a client of minor version 0 or 1 is sent, oldest first) and by
//! name, case folded (the pages a client of minor version 2 asks for,
//! optionally only the names starting with a prefix). A join, a departure
//! and a rename are a few map updates (O(log n)); a page is O(log n + page).
//! The name order is the same on every instance, since every mirror holds
//! the same names, so a cursor read on one instance pages on another.
//! Owns the members' nicknames, join order and typing state; what a room
//! does with them (the log, history, connections) is `mirror.rs`'s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::iter::Peekable;
use std::ops::Bound;

use crate::core::ids::ResumeToken;
use crate::protocol::RosterEntry;

/// A participant of a room, wherever connected.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Their nickname.
    pub(crate) nick: String,
    /// Since when they are typing (ms), if they are.
    pub(crate) typing_since: Option<u64>,
    /// Join order, for a stable roster.
    order: u64,
}

/// Bytes a roster entry takes in a frame beyond its nickname:
/// `{"nick":"","typing":false},`. A nickname needs no escapes (quotes,
/// backslashes and control characters are refused by its rules).
const ENTRY_OVERHEAD: usize = 27;

/// The bytes one member's entry takes in a frame.
fn entry_len(nick: &str) -> usize {
    ENTRY_OVERHEAD + nick.len()
}

/// A nickname as the name order compares it: lower-cased character by
/// character (no context rules, so a prefix folds as the name it starts).
pub(crate) fn fold(nick: &str) -> String {
    nick.chars().flat_map(char::to_lowercase).collect()
}

/// The name order's key: the folded name, then the name itself (two
/// members never share a name, so keys are unique).
type NameKey = (String, String);

fn name_key(nick: &str) -> NameKey {
    (fold(nick), nick.to_owned())
}

/// One page of the roster in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RosterPage {
    /// The members, in name order.
    pub(crate) entries: Vec<RosterEntry>,
    /// The cursor of the next page (the last name here), when more
    /// members match.
    pub(crate) next: Option<String>,
}

/// What a page asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageAsk<'a> {
    /// Only names after this one in name order (a previous page's `next`).
    pub(crate) after: Option<&'a str>,
    /// Only names starting with this, compared folded.
    pub(crate) prefix: Option<&'a str>,
    /// Most entries.
    pub(crate) limit: usize,
    /// Most bytes of entries, as written in a frame; at least one entry is
    /// always given, so paging always moves.
    pub(crate) max_bytes: usize,
}

/// A room's members.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    members: HashMap<ResumeToken, Member>,
    /// Join order, with the token: two members never share an order
    /// number from one backplane, but an index must not lose a member if
    /// they ever did.
    by_order: BTreeSet<(u64, ResumeToken)>,
    by_name: BTreeMap<NameKey, ResumeToken>,
}

impl Roster {
    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// A member by token.
    pub(crate) fn get(&self, token: &ResumeToken) -> Option<&Member> {
        self.members.get(token)
    }

    /// Whether `token` is a member.
    pub(crate) fn contains(&self, token: &ResumeToken) -> bool {
        self.members.contains_key(token)
    }

    /// The typing state of a member, to change.
    pub(crate) fn typing_mut(&mut self, token: &ResumeToken) -> Option<&mut Option<u64>> {
        self.members.get_mut(token).map(|m| &mut m.typing_since)
    }

    /// Adds a member at join place `order`; answers the member `token`
    /// was before, if it was one.
    pub(crate) fn insert(
        &mut self,
        token: ResumeToken,
        nick: String,
        order: u64,
    ) -> Option<Member> {
        let old = self.remove(&token);
        self.by_order.insert((order, token.clone()));
        self.by_name.insert(name_key(&nick), token.clone());
        let member = Member {
            nick,
            typing_since: None,
            order,
        };
        self.members.insert(token, member);
        old
    }

    /// Takes a member out; answers it.
    pub(crate) fn remove(&mut self, token: &ResumeToken) -> Option<Member> {
        let member = self.members.remove(token)?;
        self.by_order.remove(&(member.order, token.clone()));
        self.by_name.remove(&name_key(&member.nick));
        Some(member)
    }

    /// Renames a member, moving it in the name order.
    pub(crate) fn rename(&mut self, token: &ResumeToken, new: &str) {
        let Some(member) = self.members.get_mut(token) else {
            return;
        };
        self.by_name.remove(&name_key(&member.nick));
        member.nick = new.to_owned();
        self.by_name.insert(name_key(new), token.clone());
    }

    /// A member's entry in a frame.
    fn entry(member: &Member) -> RosterEntry {
        RosterEntry {
            nick: member.nick.clone(),
            typing: member.typing_since.is_some(),
        }
    }

    /// The first `limit` members in join order, within `max_bytes` (at
    /// least one when there is one); the whole roster when they fit.
    pub(crate) fn in_join_order(&self, limit: usize, max_bytes: usize) -> Vec<RosterEntry> {
        let mut members = self
            .by_order
            .iter()
            .filter_map(|(_, t)| self.members.get(t))
            .peekable();
        take_bounded(&mut members, limit, max_bytes)
    }

    /// A page in name order.
    pub(crate) fn page(&self, ask: PageAsk<'_>) -> RosterPage {
        let prefix = ask.prefix.map(fold).unwrap_or_default();
        // Start after the cursor, or at the prefix, whichever is later.
        let from_prefix = (prefix.clone(), String::new());
        let start = match ask.after.map(name_key) {
            Some(after) if after >= from_prefix => Bound::Excluded(after),
            _ => Bound::Included(from_prefix),
        };
        let mut matching = self
            .by_name
            .range((start, Bound::Unbounded))
            .take_while(|((folded, _), _)| folded.starts_with(&prefix))
            .filter_map(|(_, token)| self.members.get(token))
            .peekable();
        let entries = take_bounded(&mut matching, ask.limit, ask.max_bytes);
        let next = match (entries.last(), matching.peek()) {
            (Some(last), Some(_)) => Some(last.nick.clone()),
            _ => None,
        };
        RosterPage { entries, next }
    }
}

/// The entries of the first of `members`, up to `limit` of them and
/// `max_bytes` as written, and at least one; the rest stay in `members`.
fn take_bounded<'a, I: Iterator<Item = &'a Member>>(
    members: &mut Peekable<I>,
    limit: usize,
    max_bytes: usize,
) -> Vec<RosterEntry> {
    let mut entries = Vec::new();
    let mut bytes = 0;
    while entries.len() < limit {
        let Some(member) = members.peek() else { break };
        bytes += entry_len(&member.nick);
        if !entries.is_empty() && bytes > max_bytes {
            break;
        }
        entries.push(Roster::entry(member));
        members.next();
    }
    entries
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn roster(nicks: &[&str]) -> Roster {
        let mut roster = Roster::default();
        for (n, nick) in nicks.iter().enumerate() {
            roster.insert(
                Arc::from(format!("t-{nick}")),
                nick.to_string(),
                n as u64 + 1,
            );
        }
        roster
    }

    fn ask<'a>(after: Option<&'a str>, prefix: Option<&'a str>, limit: usize) -> PageAsk<'a> {
        PageAsk {
            after,
            prefix,
            limit,
            max_bytes: usize::MAX,
        }
    }

    fn nicks(entries: &[RosterEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.nick.as_str()).collect()
    }

    /// Every page from the start, following `next`.
    fn all_pages(roster: &Roster, prefix: Option<&str>, limit: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = roster.page(ask(after.as_deref(), prefix, limit));
            pages.push(page.entries.iter().map(|e| e.nick.clone()).collect());
            match page.next {
                Some(next) => after = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_cover_the_roster_in_name_order_once() {
        let roster = roster(&["bob", "Ann", "carl", "anna", "Dora", "eve", "al"]);
        assert_eq!(
            all_pages(&roster, None, 3),
            vec![
                vec!["al", "Ann", "anna"],
                vec!["bob", "carl", "Dora"],
                vec!["eve"]
            ]
        );
        // A page that ends exactly at the end has no next.
        let page = roster.page(ask(Some("carl"), None, 4));
        assert_eq!(nicks(&page.entries), vec!["Dora", "eve"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_prefix_finds_the_names_starting_with_it_whatever_their_case() {
        let roster = roster(&["bob", "Ann", "carl", "anna", "Andrea", "al", "Ánna"]);
        assert_eq!(
            all_pages(&roster, Some("AN"), 2),
            vec![vec!["Andrea", "Ann"], vec!["anna"]]
        );
        assert_eq!(all_pages(&roster, Some("á"), 10), vec![vec!["Ánna"]]);
        assert_eq!(
            all_pages(&roster, Some("zed"), 10),
            vec![Vec::<String>::new()]
        );
        // A cursor before the prefix starts at the prefix; one past it
        // ends the search.
        let page = roster.page(ask(Some("al"), Some("an"), 10));
        assert_eq!(nicks(&page.entries), vec!["Andrea", "Ann", "anna"]);
        let page = roster.page(ask(Some("bob"), Some("an"), 10));
        assert!(page.entries.is_empty() && page.next.is_none());
    }

    #[test]
    fn a_cursor_need_not_be_a_member_any_more() {
        let mut roster = roster(&["ann", "bob", "carl", "dora"]);
        let first = roster.page(ask(None, None, 2));
        assert_eq!(first.next.as_deref(), Some("bob"));
        roster.remove(&Arc::from("t-bob"));
        roster.insert(Arc::from("t-bea"), "bea".into(), 9);
        let second = roster.page(ask(first.next.as_deref(), None, 2));
        assert_eq!(nicks(&second.entries), vec!["carl", "dora"]);
    }

    #[test]
    fn renames_and_departures_move_members_in_both_orders() {
        let mut roster = roster(&["ann", "bob", "carl"]);
        roster.rename(&Arc::from("t-ann"), "zoe");
        assert_eq!(
            nicks(&roster.page(ask(None, None, 10)).entries),
            vec!["bob", "carl", "zoe"]
        );
        assert_eq!(
            nicks(&roster.in_join_order(10, usize::MAX)),
            vec!["zoe", "bob", "carl"],
            "a rename keeps the join place"
        );
        roster.remove(&Arc::from("t-bob"));
        assert_eq!(roster.len(), 2);
        assert_eq!(
            nicks(&roster.in_join_order(10, usize::MAX)),
            vec!["zoe", "carl"]
        );
        assert_eq!(
            nicks(&roster.page(ask(None, Some("b"), 10)).entries),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn members_sharing_an_order_number_are_both_kept() {
        let mut roster = Roster::default();
        roster.insert(Arc::from("t1"), "ann".into(), 1);
        roster.insert(Arc::from("t2"), "bob".into(), 1);
        assert_eq!(nicks(&roster.in_join_order(10, usize::MAX)).len(), 2);
        roster.remove(&Arc::from("t1"));
        assert_eq!(nicks(&roster.in_join_order(10, usize::MAX)), vec!["bob"]);
    }

    #[test]
    fn pages_are_held_to_their_byte_bound_but_always_move() {
        let roster = roster(&["ann", "bob", "carl"]);
        let one = entry_len("ann");
        let page = roster.page(PageAsk {
            max_bytes: 2 * one,
            ..ask(None, None, 10)
        });
        assert_eq!(nicks(&page.entries), vec!["ann", "bob"]);
        assert_eq!(page.next.as_deref(), Some("bob"));
        let tiny = roster.page(PageAsk {
            max_bytes: 1,
            ..ask(None, None, 10)
        });
        assert_eq!(nicks(&tiny.entries), vec!["ann"], "at least one");
        assert_eq!(
            nicks(&roster.in_join_order(2, usize::MAX)),
            vec!["ann", "bob"]
        );
        assert_eq!(nicks(&roster.in_join_order(10, 1)), vec!["ann"]);
    }

    #[test]
    fn the_entries_bound_matches_what_serde_writes() {
        let entry = RosterEntry {
            nick: "Ánna-Lee".into(),
            typing: false,
        };
        let written = serde_json::to_string(&entry).unwrap().len() + 1;
        assert_eq!(entry_len(&entry.nick), written, "with its comma");
    }
}

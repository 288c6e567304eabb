//! The *series table*: series by id. Ids are handed out in increasing order and never reused
//! (a cached id of a removed series is then simply unknown, never another series'), so the
//! table is indexed by id — faster than a hash map on the append path — in pages of
//! [`PAGE`] slots. A page whose series are all gone is freed: under series churn (pods,
//! alerts that come and go) the table holds pages for the ids that are still live, instead of
//! growing by a slot for every series ever created.

use super::series::MemSeries;

/// Slots per page (~112 KiB of series headers).
const PAGE: usize = 1024;

#[derive(Debug)]
struct Page {
    slots: Box<[Option<MemSeries>]>,
    live: usize,
}

/// Series by id; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SeriesTable {
    pages: Vec<Option<Page>>,
    live: usize,
}

fn split(id: u32) -> (usize, usize) {
    (id as usize / PAGE, id as usize % PAGE)
}

impl SeriesTable {
    pub(crate) fn get(&self, id: u32) -> Option<&MemSeries> {
        let (p, i) = split(id);
        self.pages.get(p)?.as_ref()?.slots[i].as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        let (p, i) = split(id);
        self.pages.get_mut(p)?.as_mut()?.slots[i].as_mut()
    }

    pub(crate) fn insert(&mut self, id: u32, s: MemSeries) {
        let (p, i) = split(id);
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self.pages[p].get_or_insert_with(|| Page { slots: (0..PAGE).map(|_| None).collect(), live: 0 });
        if page.slots[i].replace(s).is_none() {
            page.live += 1;
            self.live += 1;
        }
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<MemSeries> {
        let (p, i) = split(id);
        let slot = self.pages.get_mut(p)?;
        let page = slot.as_mut()?;
        let s = page.slots[i].take()?;
        page.live -= 1;
        self.live -= 1;
        if page.live == 0 {
            *slot = None;
        }
        Some(s)
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Pages allocated.
    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.pages.iter().flatten().count()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &MemSeries> {
        self.pages.iter().flatten().flat_map(|p| p.slots.iter().flatten())
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut MemSeries)> {
        self.pages.iter_mut().enumerate().filter_map(|(p, page)| page.as_mut().map(|page| (p, page))).flat_map(
            |(p, page)| {
                page.slots
                    .iter_mut()
                    .enumerate()
                    .filter_map(move |(i, s)| s.as_mut().map(|s| ((p * PAGE + i) as u32, s)))
            },
        )
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pages.iter().enumerate().filter_map(|(p, page)| page.as_ref().map(|page| (p, page))).flat_map(
            |(p, page)| {
                page.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(move |(i, _)| (p * PAGE + i) as u32)
            },
        )
    }
}

impl std::ops::Index<&u32> for SeriesTable {
    type Output = MemSeries;
    fn index(&self, id: &u32) -> &MemSeries {
        self.get(*id).expect("series id from the index is live")
    }
}

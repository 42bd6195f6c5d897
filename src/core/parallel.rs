//! One way to spread independent per-file work over the cores.
//!
//! A run handles ~70 files; rendering, reading and writing them are each a
//! few milliseconds, which is most of a command's time, so they are split
//! into one contiguous run per core (files of one directory stay together,
//! and threads rarely wait on the same directory lock). Scoped threads, no
//! pool: a command does this at most three times.

/// `f` over `items`, results in order. On failure, the error of the first
/// failing item (in order) is returned; work on other runs may have
/// happened.
pub fn try_map<T, R, E>(items: &[T], f: impl Fn(&T) -> Result<R, E> + Sync) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if workers == 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|run| s.spawn(move || run.iter().map(f).collect::<Result<Vec<R>, E>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().expect("a worker thread panicked")?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_the_first_error() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            try_map(&items, |i| Ok::<_, ()>(i * 2)).unwrap(),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        let err = try_map(&items, |&i| if i == 10 || i == 90 { Err(i) } else { Ok(i) });
        assert_eq!(err, Err(10));
        assert_eq!(try_map(&[] as &[u32], |&i| Ok::<_, ()>(i)), Ok(vec![]));
    }
}

//! Static partition assignment: which partitions this daemon reads.
//!
//! rskafka has no consumer groups, so N daemons split a topic the way
//! Flink's Kafka source does without a coordinator: each knows its index
//! and the instance count (`kafka.consumer.instance`/`instances`) and takes
//! partitions `p` with `p % instances == instance`, or reads an explicit
//! list (`kafka.consumer.partitions`). The sets are disjoint by
//! construction and together cover every partition, with no rebalancing to
//! wait for. Changing the instance count needs every daemon restarted with
//! the new value; positions stay valid because they are per partition.

use super::config::ConsumerConfig;
use super::{TopicKind, TransportError};

/// The partitions of `topic` (which has `total` partitions) a consumer
/// reads: the subscription's explicit list when it has one, else this
/// instance's share from `config`. A partition that does not exist is an
/// error, not silently skipped.
pub fn assigned_partitions(
    topic: TopicKind,
    total: u32,
    requested: Option<&[i32]>,
    config: &ConsumerConfig,
) -> Result<Vec<i32>, TransportError> {
    let chosen: Vec<i32> = match requested.or(config.partitions.as_deref()) {
        Some(list) => {
            let mut list = list.to_vec();
            list.sort_unstable();
            list.dedup();
            list
        }
        None => {
            let instances = config.instances.max(1);
            (0..total)
                .filter(|p| p % instances == config.instance)
                .map(|p| p as i32)
                .collect()
        }
    };
    if let Some(missing) = chosen
        .iter()
        .find(|p| **p < 0 || i64::from(**p) >= i64::from(total))
    {
        return Err(TransportError::UnknownPartition {
            topic,
            partition: *missing,
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(i: u32, n: u32) -> ConsumerConfig {
        ConsumerConfig {
            instance: i,
            instances: n,
            ..ConsumerConfig::default()
        }
    }

    #[test]
    fn instances_split_partitions_disjointly_and_completely() {
        for total in 1..20u32 {
            for n in 1..=total {
                let mut seen = Vec::new();
                for i in 0..n {
                    let mine =
                        assigned_partitions(TopicKind::Readings, total, None, &instance(i, n))
                            .unwrap();
                    assert!(!mine.is_empty(), "instance {i}/{n} of {total} gets work");
                    seen.extend(mine);
                }
                seen.sort_unstable();
                let all: Vec<i32> = (0..total as i32).collect();
                assert_eq!(seen, all, "{n} instances over {total} partitions");
            }
        }
    }

    #[test]
    fn explicit_lists_win_and_must_exist() {
        let config = ConsumerConfig {
            partitions: Some(vec![4, 1, 4]),
            ..ConsumerConfig::default()
        };
        assert_eq!(
            assigned_partitions(TopicKind::Alerts, 6, None, &config).unwrap(),
            vec![1, 4]
        );
        assert_eq!(
            assigned_partitions(TopicKind::Alerts, 6, Some(&[2]), &config).unwrap(),
            vec![2],
            "the subscription's own list wins over the config"
        );
        let err = assigned_partitions(TopicKind::Alerts, 3, None, &config).unwrap_err();
        assert!(matches!(
            err,
            TransportError::UnknownPartition {
                topic: TopicKind::Alerts,
                partition: 4
            }
        ));
    }
}

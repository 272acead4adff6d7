"""Metrics every client library and common exporter exposes, with their types.

Without a spec, type-dependent checks (``promql/counter``, ``promql/gauge_rate``) would only have a name to go
by, and a name ending in ``_total`` is not always a counter (``container_fs_inodes_total`` is a gauge). These
families come from the clients' and exporters' own documentation: prometheus_client (Python), client_golang,
node_exporter, kube-state-metrics, cAdvisor, and Prometheus itself (``up``, ``scrape_*``).
"""

from __future__ import annotations

import re

COUNTER = "counter"
GAUGE = "gauge"

#: exact names
KNOWN: dict[str, str] = {
    # Prometheus itself
    "up": GAUGE,
    "scrape_duration_seconds": GAUGE,
    "scrape_samples_scraped": GAUGE,
    "scrape_samples_post_metric_relabeling": GAUGE,
    "scrape_series_added": GAUGE,
    # process collector (Python, Go, Java clients)
    "process_cpu_seconds_total": COUNTER,
    "process_resident_memory_bytes": GAUGE,
    "process_virtual_memory_bytes": GAUGE,
    "process_virtual_memory_max_bytes": GAUGE,
    "process_open_fds": GAUGE,
    "process_max_fds": GAUGE,
    "process_start_time_seconds": GAUGE,
    "process_network_receive_bytes_total": COUNTER,
    "process_network_transmit_bytes_total": COUNTER,
    # Python client
    "python_info": GAUGE,
    "python_gc_objects_collected_total": COUNTER,
    "python_gc_objects_uncollectable_total": COUNTER,
    "python_gc_collections_total": COUNTER,
    # Go client
    "go_goroutines": GAUGE,
    "go_threads": GAUGE,
    "go_info": GAUGE,
    "go_gc_duration_seconds_count": COUNTER,
    "go_gc_duration_seconds_sum": COUNTER,
    "go_memstats_alloc_bytes": GAUGE,
    "go_memstats_alloc_bytes_total": COUNTER,
    "go_memstats_heap_alloc_bytes": GAUGE,
    "go_memstats_heap_inuse_bytes": GAUGE,
    "go_memstats_heap_objects": GAUGE,
    "go_memstats_sys_bytes": GAUGE,
    "go_memstats_mallocs_total": COUNTER,
    "go_memstats_frees_total": COUNTER,
    "go_memstats_lookups_total": COUNTER,
    "go_memstats_last_gc_time_seconds": GAUGE,
    "go_memstats_next_gc_bytes": GAUGE,
    # node_exporter
    "node_cpu_seconds_total": COUNTER,
    "node_load1": GAUGE,
    "node_load5": GAUGE,
    "node_load15": GAUGE,
    "node_boot_time_seconds": GAUGE,
    "node_time_seconds": GAUGE,
    "node_filesystem_avail_bytes": GAUGE,
    "node_filesystem_free_bytes": GAUGE,
    "node_filesystem_size_bytes": GAUGE,
    "node_filesystem_files": GAUGE,
    "node_filesystem_files_free": GAUGE,
    "node_filesystem_readonly": GAUGE,
    "node_filesystem_device_error": GAUGE,
    "node_nf_conntrack_entries": GAUGE,
    "node_nf_conntrack_entries_limit": GAUGE,
    "node_context_switches_total": COUNTER,
    "node_intr_total": COUNTER,
    "node_forks_total": COUNTER,
    "node_edac_correctable_errors_total": COUNTER,
    "node_edac_uncorrectable_errors_total": COUNTER,
    "node_timex_offset_seconds": GAUGE,
    "node_timex_sync_status": GAUGE,
    "node_textfile_scrape_error": GAUGE,
    "node_hwmon_temp_celsius": GAUGE,
    # kube-state-metrics
    "kube_pod_container_status_restarts_total": COUNTER,
    "kube_pod_status_phase": GAUGE,
    "kube_pod_status_ready": GAUGE,
    "kube_pod_container_status_waiting_reason": GAUGE,
    "kube_pod_container_status_terminated_reason": GAUGE,
    "kube_pod_container_status_last_terminated_reason": GAUGE,
    "kube_pod_container_resource_requests": GAUGE,
    "kube_pod_container_resource_limits": GAUGE,
    "kube_pod_info": GAUGE,
    "kube_pod_owner": GAUGE,
    "kube_node_info": GAUGE,
    "kube_node_status_condition": GAUGE,
    "kube_node_status_allocatable": GAUGE,
    "kube_node_status_capacity": GAUGE,
    "kube_node_spec_unschedulable": GAUGE,
    "kube_deployment_status_replicas": GAUGE,
    "kube_deployment_status_replicas_available": GAUGE,
    "kube_deployment_status_replicas_updated": GAUGE,
    "kube_deployment_spec_replicas": GAUGE,
    "kube_deployment_status_observed_generation": GAUGE,
    "kube_deployment_metadata_generation": GAUGE,
    "kube_statefulset_status_replicas_ready": GAUGE,
    "kube_statefulset_replicas": GAUGE,
    "kube_daemonset_status_number_ready": GAUGE,
    "kube_daemonset_status_desired_number_scheduled": GAUGE,
    "kube_job_status_failed": GAUGE,
    "kube_job_status_succeeded": GAUGE,
    "kube_persistentvolumeclaim_status_phase": GAUGE,
    "kube_persistentvolume_status_phase": GAUGE,
    "kube_horizontalpodautoscaler_status_current_replicas": GAUGE,
    "kube_horizontalpodautoscaler_spec_max_replicas": GAUGE,
    # cAdvisor
    "container_cpu_usage_seconds_total": COUNTER,
    "container_cpu_cfs_periods_total": COUNTER,
    "container_cpu_cfs_throttled_periods_total": COUNTER,
    "container_memory_working_set_bytes": GAUGE,
    "container_memory_usage_bytes": GAUGE,
    "container_memory_rss": GAUGE,
    "container_spec_memory_limit_bytes": GAUGE,
    "container_fs_inodes_free": GAUGE,
    "container_fs_inodes_total": GAUGE,  # the inodes a filesystem has: a gauge despite _total
    "container_fs_limit_bytes": GAUGE,
    "container_fs_usage_bytes": GAUGE,
    "container_last_seen": GAUGE,
    "container_oom_events_total": COUNTER,
    "container_network_receive_bytes_total": COUNTER,
    "container_network_transmit_bytes_total": COUNTER,
    # MinIO reports its drive and node counts as gauges named _total
    "minio_cluster_drive_offline_total": GAUGE,
    "minio_cluster_drive_online_total": GAUGE,
    "minio_cluster_drive_total": GAUGE,
    "minio_cluster_nodes_offline_total": GAUGE,
    "minio_cluster_nodes_online_total": GAUGE,
}

#: families by pattern (checked after the exact names)
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^node_memory_\w+_bytes$"), GAUGE),
    (re.compile(r"^node_(network|disk)_\w+_total$"), COUNTER),
    (re.compile(r"^node_(network|disk)_\w+(?<!_total)$"), GAUGE),
    (re.compile(r"^go_memstats_\w+_bytes$"), GAUGE),
    (re.compile(r"^kube_\w+(?<!_total)$"), GAUGE),  # kube-state-metrics: gauges unless _total
)


def known_type(name: str) -> str | None:
    """``counter``, ``gauge`` or None for a metric every client or a common exporter exposes."""
    found = KNOWN.get(name)
    if found is not None:
        return found
    for pattern, kind in PATTERNS:
        if pattern.match(name):
            return kind
    return None

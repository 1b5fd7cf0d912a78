"""NVIDIA DCGM exporter's GPU families (labels ``gpu``, ``UUID``, ``modelName``) and what they mean."""

from __future__ import annotations

from inferload import hookimpl
from inferload.types import FamilyMeaning as M
from inferload.types import ServerMetricMapSpec

FAMILIES = {
    "DCGM_FI_DEV_POWER_USAGE": M("gpu_power", "W", "Power draw"),
    "DCGM_FI_DEV_GPU_UTIL": M("gpu_utilization", "%", "GPU utilisation"),
    "DCGM_FI_DEV_FB_USED": M("gpu_memory_used", "MiB", "Frame-buffer memory used"),
    "DCGM_FI_DEV_SM_CLOCK": M("gpu_sm_clock", "MHz", "SM clock"),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": M("gpu_energy", "J", "Energy since boot (exposed in mJ)",
                                              scale=0.001),
}


@hookimpl
def register_server_metric_maps() -> list[ServerMetricMapSpec]:
    return [ServerMetricMapSpec(name="dcgm", description="NVIDIA DCGM exporter's GPU families (DCGM_FI_*)",
                                families=FAMILIES)]

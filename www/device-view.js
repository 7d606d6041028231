// Renders a device report as a definition list, and the fallback notice when the lab runs on
// the CPU although the GPU was wanted.

const MIB = 1 << 20;

function facts(report) {
  const rows = [['Backend', report.backend === 'wgpu' ? 'WebGPU (burn wgpu)' : 'CPU (burn Flex, WebAssembly)']];
  const adapter = report.adapter;
  if (!adapter) return rows;
  const limits = adapter.limits;
  rows.push(
    ['Adapter', adapter.name || 'unnamed'],
    ['Vendor', adapter.vendor || 'not reported'],
    ['Architecture', adapter.architecture || 'not reported'],
    ['Software adapter', adapter.is_fallback_adapter ? 'yes (slow)' : 'no'],
    ['Largest buffer', `${Math.round(limits.max_buffer_size / MIB)} MiB`],
    ['Storage binding', `${Math.round(limits.max_storage_buffer_binding_size / MIB)} MiB`],
    ['Storage buffers per stage', limits.max_storage_buffers_per_shader_stage],
    ['Invocations per workgroup', limits.max_compute_invocations_per_workgroup],
    ['Workgroup memory', `${limits.max_compute_workgroup_storage_size / 1024} KiB`],
  );
  return rows;
}

export function renderDevice(report, list, notice) {
  list.replaceChildren(
    ...facts(report).flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = String(value);
      return [dt, dd];
    }),
  );
  notice.hidden = !report.fallback_reason;
  notice.textContent = report.fallback_reason
    ? `Running on the CPU because ${report.fallback_reason}. See the README's troubleshooting ` +
      'section to enable WebGPU.'
    : '';
}

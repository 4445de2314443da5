// Visualization-error marks: a magenta square ring over every sample whose round trip through the
// visualization changes its prediction (the kernel sends them as an N-bit mask for one epoch). One draw of
// the listed indices over the points' own vertex array, positions from the resident position texture.
import { bindPositions, MARK_FS, MARK_VS } from "./glsl.js";

/** Indices of the set bits of an N-bit mask (bit i in byte i >> 3, least significant bit first). Pure. */
export function maskToIndices(bytes, n) {
  const out = [];
  for (let b = 0; b < bytes.length; b++) {
    const v = bytes[b];
    if (!v) continue;
    for (let j = 0; j < 8; j++) {
      const i = b * 8 + j;
      if (v & (1 << j) && i < n) out.push(i);
    }
  }
  return Uint32Array.from(out);
}

export class MarkLayer {
  /** gl, program: as for TrailLayer; metaBuf: the renderer's per-point attribute buffer (flags.js words). */
  constructor(gl, program, metaBuf) {
    this.gl = gl;
    this.prog = program(gl, MARK_VS, MARK_FS);
    this.vao = gl.createVertexArray();
    this.idx = gl.createBuffer();
    this.count = 0;
    this.e0 = 0;
    this.e1 = 0;
    this.frac = 0;
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, metaBuf);
    const aMeta = gl.getAttribLocation(this.prog.p, "a_meta");
    gl.enableVertexAttribArray(aMeta);
    gl.vertexAttribIPointer(aMeta, 4, gl.UNSIGNED_SHORT, 0, 0);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.idx);
    gl.bindVertexArray(null);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, null);
  }

  setIndices(indices /* Uint32Array */) {
    const gl = this.gl;
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.idx);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices.length ? indices : new Uint32Array(1), gl.DYNAMIC_DRAW);
    gl.bindVertexArray(null);
    this.count = indices.length;
  }

  draw(g) {
    if (!this.count) return;
    const gl = this.gl, u = this.prog.uni;
    gl.useProgram(this.prog.p);
    gl.bindVertexArray(this.vao);
    bindPositions(gl, u, g);
    gl.uniform1i(u.u_e0, g.e0);
    gl.uniform1i(u.u_e1, g.e1);
    gl.uniform1f(u.u_frac, g.frac);
    gl.uniform1f(u.u_size, Math.min(g.pointSize + 5 * g.dpr, 64));
    gl.drawElements(gl.POINTS, this.count, gl.UNSIGNED_INT, 0);
    gl.bindVertexArray(null);
  }

  dispose() {
    const gl = this.gl;
    gl.deleteBuffer(this.idx);
    gl.deleteVertexArray(this.vao);
    gl.deleteProgram(this.prog.p);
  }
}

// Trails: the selected samples' paths across every epoch, drawn behind the points in ONE instanced draw call
// from the positions already resident on the GPU, fading with distance from the drawn (interpolated) time.
// At most TRAIL_CAP samples get a trail (an even spread of a larger selection), so a huge lasso stays cheap.
import { bindPositions, TRAIL_FS, TRAIL_VS } from "./glsl.js";

export const TRAIL_CAP = 2000;

/** Samples that get a trail: the visible ones of `sorted` (ascending indices), evenly thinned to `cap`. Pure. */
export function trailSamples(sorted, hidden, cap = TRAIL_CAP) {
  const visible = hidden ? sorted.filter((i) => !hidden[i]) : sorted.slice();
  if (visible.length <= cap) return Uint32Array.from(visible);
  const out = new Uint32Array(cap);
  for (let j = 0; j < cap; j++) out[j] = visible[Math.floor((j * visible.length) / cap)];
  return out;
}

/** Fade length in epochs for a timeline of nEpochs: a few epochs either side stay clearly visible. */
export function fadeLength(nEpochs) {
  return Math.max(1.2, nEpochs / 6);
}

export class TrailLayer {
  /** gl: the view's WebGL2 context; program(gl, vs, fs): the renderer's compile-and-link helper. */
  constructor(gl, program) {
    this.gl = gl;
    this.prog = program(gl, TRAIL_VS, TRAIL_FS);
    this.vao = gl.createVertexArray();
    this.buf = gl.createBuffer();
    this.count = 0;      // samples with a trail
    this.calls = 0;      // draw calls of the last frame (one, or none)
    this.time = 0;
    this.last = 0;
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf);
    const aSample = gl.getAttribLocation(this.prog.p, "a_sample");
    const aClass = gl.getAttribLocation(this.prog.p, "a_class");
    gl.enableVertexAttribArray(aSample);
    gl.vertexAttribIPointer(aSample, 1, gl.UNSIGNED_INT, 8, 0);
    gl.vertexAttribDivisor(aSample, 1);
    gl.enableVertexAttribArray(aClass);
    gl.vertexAttribIPointer(aClass, 1, gl.UNSIGNED_INT, 8, 4);
    gl.vertexAttribDivisor(aClass, 1);
    gl.bindVertexArray(null);
  }

  /** The samples to trace (Uint32Array) and the class colouring each (their labels). */
  setSamples(indices, classOf) {
    const data = new Uint32Array(indices.length * 2);
    indices.forEach((i, j) => { data[2 * j] = i; data[2 * j + 1] = classOf(i); });
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
    this.count = indices.length;
  }

  /** Draw (g: the renderer's frame context) at time `this.time` with epochs 0..`this.last` loaded. */
  draw(g) {
    this.calls = 0;
    const nSeg = Math.min(g.nEpochs - 1, this.last);
    if (!this.count || nSeg < 1) return;
    const gl = this.gl, u = this.prog.uni;
    gl.useProgram(this.prog.p);
    gl.bindVertexArray(this.vao);
    bindPositions(gl, u, g);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, g.palette);
    gl.uniform1i(u.u_palette, 1);
    gl.uniform1i(u.u_nColors, g.nColors);
    gl.uniform2f(u.u_px, g.px[0], g.px[1]);
    gl.uniform1f(u.u_halfWidth, 1.6 * g.dpr);
    gl.uniform1f(u.u_time, this.time);
    gl.uniform1f(u.u_tau, fadeLength(g.nEpochs));
    gl.uniform1i(u.u_last, this.last);
    gl.drawArraysInstanced(gl.TRIANGLES, 0, 6 * nSeg, this.count);
    this.calls = 1;
    gl.bindVertexArray(null);
  }

  dispose() {
    const gl = this.gl;
    gl.deleteBuffer(this.buf);
    gl.deleteVertexArray(this.vao);
    gl.deleteProgram(this.prog.p);
  }
}

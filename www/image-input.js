// Images given to the page's panels: dropped on a zone, or passed to their APIs as bytes.

/** The bytes of an encoded image given as a Uint8Array, an ArrayBuffer or a Blob. */
export async function bytesOf(image) {
  if (image instanceof Uint8Array) return image;
  return new Uint8Array(image instanceof Blob ? await image.arrayBuffer() : image);
}

/** Calls `onFile` with the first file dropped on `zone`, which is marked while dragged over. */
export function acceptDrops(zone, onFile) {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    onFile(event.dataTransfer?.files[0]);
  });
}

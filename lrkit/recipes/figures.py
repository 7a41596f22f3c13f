"""How every reproduction family's figure is finished: titled, laid out, and saved where asked.

The LLM family (:mod:`lrkit.llm`) and the plots of :mod:`lrkit.viz` both import it, so it sits in the
lowest layer they share.
"""

from __future__ import annotations


def finish_figure(fig, title: str | None = None, path=None, *, title_ax=None, dpi: int = 110):
    """``fig`` with ``title`` (on ``title_ax`` when given, else above every panel), its layout
    tightened and, with ``path``, saved there at ``dpi``. Returns ``fig``."""
    if title:
        if title_ax is not None:
            title_ax.set_title(title)
        else:
            fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig

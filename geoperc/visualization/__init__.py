from .change import change_overlay, change_overlay_from_files

__all__ = ['change_overlay', 'change_overlay_from_files']

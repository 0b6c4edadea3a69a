using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class StreamDataKeyConfiguration : IEntityTypeConfiguration<StreamDataKeyEntity>
{
    public void Configure(EntityTypeBuilder<StreamDataKeyEntity> b)
    {
        b.ToTable("stream_data_keys");
        b.HasKey(k => new { k.StreamId, k.Version });
        b.Property(k => k.KeyId).HasMaxLength(2048);
        // 12-byte nonce + 32-byte key + 16-byte tag.
        b.Property(k => k.WrappedKey).HasMaxLength(60);
        b.HasOne<StreamEntity>().WithMany().HasForeignKey(k => k.StreamId).OnDelete(DeleteBehavior.Cascade);
    }
}
